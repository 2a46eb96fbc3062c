package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the report as Markdown tables.
func (r *ViewerReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "date %s, host %s, %d × %s, GStreamer %s, viewer encoder %s, model %s, view %s\n",
		r.Date, r.Host, r.CPUs, r.CPUModel, r.GStreamer, r.Encoder, r.Model, r.View)
	fmt.Fprintf(w, "load average at start %.2f %.2f %.2f, at end %.2f %.2f %.2f; viewers of the CPU runs: %s; %.0f s\n\n",
		r.LoadStart[0], r.LoadStart[1], r.LoadStart[2], r.LoadEnd[0], r.LoadEnd[1], r.LoadEnd[2], r.Clients, r.Wall)
	if len(r.Latency) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		fmt.Fprintln(tw, "| latency_ms\t| size\t| sim B-frames\t| seconds (rounds)\t| received fps\t| identified\t| produced → received p50 / p95 / max\t| produced → decoded p50 / p95 / max\t| produced → detections p50 / p95 / max\t| lost pkts\t| CPU\t| load\t|")
		fmt.Fprintln(tw, "| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t|")
		for _, l := range r.Latency {
			fmt.Fprintf(tw, "| %d\t| %s\t| %d\t| %.1f (%d×)\t| %.1f\t| %d / %d\t| %s\t| %s\t| %s\t| %d\t| %.0f %%\t| %.1f\t|\n",
				l.LatencyMS, l.Size, l.SimBFrames, l.Seconds, l.Rounds, l.FPS, l.Matched, l.Decoded, fmtP(l.ReceivedMs), fmtP(l.DecodedMs),
				fmtP(l.DetectionsMs), l.LostPkts, l.CPUPercent, l.LoadAvg)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if len(r.CPU) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		fmt.Fprintln(tw, "| cameras\t| size\t| rounds × window\t| CPU, no viewer\t| CPU, 1 viewer per camera\t| cost per camera's viewer (min–max)\t| camera fps (min)\t| viewer fps min / mean\t| encoders\t| join p50 / p95 / max\t| viewer process CPU\t| load\t|")
		fmt.Fprintln(tw, "| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t|")
		for _, c := range r.CPU {
			fmt.Fprintf(tw, "| %d\t| %s\t| %d × %.0f s\t| %.0f %%\t| %.0f %%\t| **%.1f %%** (%.1f–%.1f)\t| %.1f\t| %.1f / %.1f\t| %d\t| %s\t| %s\t| %.1f\t|\n",
				c.Cameras, c.Size, c.Rounds, c.Seconds, c.IdleCPU, c.ViewerCPU, c.PerCameraCPU, c.PerCameraMin, c.PerCameraMax,
				c.CameraFPSMin, c.ViewerFPSMin, c.ViewerFPSMean, c.Encoders, fmtP(c.Join), fmtCPU(c.ClientCPU), c.LoadAvg)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if f := r.Fanout; f != nil {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		fmt.Fprintln(tw, "| viewers of cam1\t| size\t| CPU\t| viewer fps min / mean\t| camera fps\t| encoder starts / running at once\t| join p50 / p95 / max\t| viewer process CPU\t| lost pkts\t| load\t|")
		fmt.Fprintln(tw, "| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t|")
		if f.IdleCPU >= 0 {
			fmt.Fprintf(tw, "| 0\t| %s\t| %.0f %%\t| —\t| —\t| —\t| —\t| —\t| —\t| —\t|\n", f.Size, f.IdleCPU)
		}
		fmt.Fprintf(tw, "| 1\t| %s\t| %.0f %%\t| %.1f\t| —\t| —\t| —\t| —\t| —\t| —\t|\n", f.Size, f.OneCPU, f.OneFPS)
		fmt.Fprintf(tw, "| %d\t| %s\t| %.0f %% (%+.1f %% per extra viewer)\t| %.1f / %.1f\t| %.1f\t| %d / %d\t| %s\t| %s\t| %d\t| %.1f\t|\n",
			f.Viewers, f.Size, f.ManyCPU, f.PerExtraViewer, f.FPSMin, f.FPSMean, f.CameraFPS, f.EncoderStarts, f.EncodersMax,
			fmtP(f.Join), fmtCPU(f.ClientCPU), f.LostPkts, f.LoadAvg)
		tw.Flush()
		fmt.Fprintln(w)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(w, "PROBLEM:", p)
	}
}

func fmtP(p Percentiles) string {
	if p.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f / %.0f / %.0f ms", p.P50, p.P95, p.Max)
}

func fmtCPU(v float64) string {
	if v < 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f %%", v)
}

// WriteJSON prints the report as one JSON object.
func (r *ViewerReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("%w: writing JSON: %w", ErrViewerBench, err)
	}
	return nil
}
