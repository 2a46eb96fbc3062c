package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gstvision/gstvision/internal/simulate"
)

func newSimulateCmd() *cobra.Command {
	var o simulate.Options
	var scene string
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Serve synthetic RTSP cameras (moving coloured blocks with known positions), or a recorded clip on many mounts",
		Example: "  gstvision simulate --cameras 2\n" +
			"  gstvision simulate --clip clip.h264 --cameras 130 --listen 127.0.0.1:8554   # no re-encoding; keyframes spread over one GOP",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch scene {
			case "blocks":
			case "events":
				o.Script = simulate.EventsScript()
			default:
				return usageError{fmt.Errorf("--scene must be blocks or events, got %q", scene)}
			}
			o.Logger = newLogger("info", "text")
			srv, err := simulate.Start(cmd.Context(), o)
			if err != nil {
				return usageError{err}
			}
			defer srv.Close()
			for i := 1; i <= srv.Options().Cameras; i++ {
				fmt.Println(srv.URL(i))
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Cameras, "cameras", 2, "number of cameras (/cam1 ... /camN; at most 63, or 1024 with --clip)")
	f.StringVar(&o.Clip, "clip", "", "serve this H.264/H.265 file (Annex B byte stream or MP4) on every mount, looped, without re-encoding; mount i starts (i-1)*GOP/N frames in")
	f.StringVar(&o.User, "user", "", "require RTSP basic authentication with this user")
	f.StringVar(&o.Password, "password", "", "the password that goes with --user")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8554", "RTSP listen address")
	f.IntVar(&o.Width, "width", 640, "picture width (even)")
	f.IntVar(&o.Height, "height", 360, "picture height (even)")
	f.IntVar(&o.FPS, "fps", 30, "frames per second (with --clip: only for a byte stream whose SPS states none)")
	f.StringVar(&o.Codec, "codec", "h264", "h264 or h265")
	f.IntVar(&o.BitrateKbps, "bitrate", 1500, "encoder bitrate, kbit/s")
	f.IntVar(&o.BFrames, "bframes", 2, "B-frames between references (-1: none, zero-latency)")
	f.StringVar(&scene, "scene", "blocks", "what the cameras show: blocks (moving at random) or events (scripted: a block crosses the line x=0.5 both ways, enters and leaves the zone [0.65..0.95]x[0.15..0.55], two pass each other; the demo config's zone and line)")
	f.IntVar(&o.JumpEverySec, "jump-every", 0, "make timestamps jump 10 s forward every N seconds (0: never)")
	return cmd
}
