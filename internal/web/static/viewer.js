// gstvision viewer: a grid of cameras from /api/cameras, each playing over WHEP (/whep/{id}) with
// the recent detections from /ws underneath. A tile plays the camera's own video ("passthrough")
// with the boxes drawn by the page on a <canvas>, from results sent on the WHEP session's
// "detections" data channel and matched to the frame on screen by RTP timestamp; or the server's
// "annotated" video with the boxes burned in. Only tiles on screen hold a WHEP session.
// /#cam=ID shows one camera. No build step, no library.
'use strict';
(() => {
  const token = new URLSearchParams(location.search).get('token') || '';
  const REFRESH_MS = 2000;   // camera list poll
  const RENDER_MS = 250;     // detection lists redraw at most this often
  const MAX_DETECTIONS = 8;  // per camera
  const MAX_BACKOFF_MS = 30000;
  const HIDDEN_GRACE_MS = 2000; // a tile scrolled away keeps its session this long
  const KEEP_RESULTS_MS = 2000; // results kept for matching frames
  const OFFSET_WINDOW_MS = 500; // matching by media time: the pts − mediaTime offset's window
  const PLAYOUT_DELAY_STEP_MS = 10; // passthrough: playout delay added each time a frame shows before its result
  const MAX_PLAYOUT_DELAY_MS = 300; // and its ceiling: boxes in step, video at most this much later
  // Same colours as overlay.Palette (and the GPU kernel), so swatches match the drawn boxes.
  const PALETTE = [[255, 51, 51], [110, 255, 89], [43, 87, 217], [255, 89, 151], [153, 255, 51],
    [76, 164, 217], [255, 51, 204], [234, 255, 89], [43, 217, 217], [234, 89, 255], [255, 204, 51],
    [76, 217, 164], [153, 51, 255], [255, 151, 89], [43, 217, 87], [110, 89, 255]];
  const paletteEntry = (id) => {
    const n = PALETTE.length;
    return PALETTE[(((id | 0) % n) + n) % n];
  };
  const classColor = (id) => `rgb(${paletteEntry(id).join(',')})`;
  // overlay.TextColor: black on light colours, white on dark ones.
  const textColor = (id) => {
    const [r, g, b] = paletteEntry(id);
    return 299 * r + 587 * g + 114 * b >= 128 * 1000 ? '#000' : '#fff';
  };
  // The label of a drawn box, as the server draws it ("person 0.87"), with its track ID first
  // when tracked ("#12 person 0.87").
  const labelText = (d) => `${d.track_id ? `#${d.track_id} ` : ''}${d.label || `class ${d.class_id}`} ${Number(d.score || 0).toFixed(2)}`;
  const MAX_EVENTS = 5;     // per camera, in its events list
  const ZONES_MS = 10000;   // a camera's zones and lines are read again this often

  // eventText describes an event for the list: "#3 person entered door", "#4 car crossed gate (in)".
  function eventText(e) {
    const who = `#${e.track_id} ${e.label || ''}`.trim();
    switch (e.type) {
      case 'object_appeared': return `${who} appeared`;
      case 'object_lost': return `${who} lost`;
      case 'zone_entered': return `${who} entered ${e.zone}`;
      case 'zone_left': return `${who} left ${e.zone}`;
      case 'line_crossed': return `${who} crossed ${e.line}${e.direction ? ` (${e.direction})` : ''}`;
      default: return `${who} ${e.type}`;
    }
  }

  // drawGeometry draws a camera's zones (polygons) and lines, in normalised coordinates, over a
  // video shown in rect, on a canvas whose backing store is scaled by dpr.
  function drawGeometry(ctx, geo, rect, dpr) {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, ctx.canvas.width / dpr, ctx.canvas.height / dpr);
    if (!geo || !(rect.w > 0 && rect.h > 0)) return;
    const at = (p) => [rect.x + p[0] * rect.w, rect.y + p[1] * rect.h];
    const fontPx = Math.max(10, Math.round(rect.h / 30));
    ctx.save();
    ctx.font = `${fontPx}px system-ui, sans-serif`;
    ctx.textBaseline = 'bottom';
    ctx.lineWidth = 2;
    for (const z of geo.zones || []) {
      if (!Array.isArray(z.polygon) || z.polygon.length < 3) continue;
      ctx.beginPath();
      z.polygon.forEach((p, i) => { const [x, y] = at(p); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
      ctx.closePath();
      ctx.fillStyle = 'rgba(255, 204, 51, 0.12)';
      ctx.fill();
      ctx.strokeStyle = 'rgba(255, 204, 51, 0.9)';
      ctx.setLineDash([6, 4]);
      ctx.stroke();
      ctx.setLineDash([]);
      const [x, y] = at(z.polygon[0]);
      ctx.fillStyle = 'rgba(255, 204, 51, 0.95)';
      ctx.fillText(z.name, x + 3, y + fontPx + 3);
    }
    for (const l of geo.lines || []) {
      if (!Array.isArray(l.points) || l.points.length !== 2) continue;
      const [x1, y1] = at(l.points[0]);
      const [x2, y2] = at(l.points[1]);
      ctx.strokeStyle = 'rgba(43, 217, 217, 0.95)';
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.lineTo(x2, y2);
      ctx.stroke();
      ctx.fillStyle = 'rgba(43, 217, 217, 0.95)';
      ctx.fillText(l.name, (x1 + x2) / 2 + 4, (y1 + y2) / 2);
      // The direction names on their sides: to the left of first→second point (on screen) is
      // directions[0].
      const dirs = Array.isArray(l.directions) && l.directions.length === 2 ? l.directions : ['left', 'right'];
      const len = Math.hypot(x2 - x1, y2 - y1) || 1;
      const nx = (y2 - y1) / len; // the left of (dx, dy) on a y-down screen is (dy, -dx)
      const ny = -(x2 - x1) / len;
      const mx = (x1 + x2) / 2;
      const my = (y1 + y2) / 2 + 2 * fontPx;
      const off = 1.5 * fontPx;
      ctx.textAlign = 'center';
      ctx.fillText(`→${dirs[0]}`, mx + nx * off, my + ny * off);
      ctx.fillText(`→${dirs[1]}`, mx - nx * off, my - ny * off);
      ctx.textAlign = 'start';
    }
    ctx.restore();
  }

  // contentRect is where a vw×vh video shows inside an element of ew×eh CSS pixels with the
  // given object-fit (object-position: center), as {x, y, w, h} in CSS pixels of the element.
  function contentRect(ew, eh, vw, vh, fit = 'contain') {
    if (!(vw > 0 && vh > 0 && ew > 0 && eh > 0)) return { x: 0, y: 0, w: ew || 0, h: eh || 0 };
    let w = vw;
    let h = vh;
    const contain = Math.min(ew / vw, eh / vh);
    const cover = Math.max(ew / vw, eh / vh);
    switch (fit) {
      case 'fill': w = ew; h = eh; break;
      case 'cover': w = vw * cover; h = vh * cover; break;
      case 'none': break;
      case 'scale-down': if (contain < 1) { w = vw * contain; h = vh * contain; } break;
      default: w = vw * contain; h = vh * contain; // contain
    }
    return { x: (ew - w) / 2, y: (eh - h) / 2, w, h };
  }

  // mapBox maps a box [x1, y1, x2, y2] in the pixels of a fw×fh frame into rect (contentRect),
  // as {x, y, w, h} in CSS pixels; corners may come in any order.
  function mapBox(box, fw, fh, rect) {
    const sx = rect.w / fw;
    const sy = rect.h / fh;
    const x1 = Math.min(box[0], box[2]);
    const x2 = Math.max(box[0], box[2]);
    const y1 = Math.min(box[1], box[3]);
    const y2 = Math.max(box[1], box[3]);
    return { x: rect.x + x1 * sx, y: rect.y + y1 * sy, w: (x2 - x1) * sx, h: (y2 - y1) * sy };
  }

  // backingSize is a canvas's backing store for a cssW×cssH box at devicePixelRatio dpr.
  const backingSize = (cssW, cssH, dpr) => ({
    width: Math.max(1, Math.round(cssW * (dpr || 1))), height: Math.max(1, Math.round(cssH * (dpr || 1))),
  });

  // rtpBefore is how far RTP timestamp a is at or before b (mod 2^32), or -1 when a is newer.
  const rtpBefore = (a, b) => {
    const d = ((b >>> 0) - (a >>> 0)) >>> 0;
    return d < 0x80000000 ? d : -1;
  };

  // pickByRtp chooses the result for the frame with RTP timestamp rtp: the one with that
  // rtp_ts, else the latest one not newer than the frame; null when there is none.
  function pickByRtp(results, rtp) {
    let best = null;
    let bestD = Infinity;
    for (const r of results) {
      if (typeof r.rtp_ts !== 'number') continue;
      const d = rtpBefore(r.rtp_ts, rtp);
      if (d === 0) return r;
      if (d > 0 && d < bestD) { best = r; bestD = d; }
    }
    return best;
  }

  // pickByTime chooses the result whose pts (ns) is nearest to mediaTime (s) + offset (s).
  function pickByTime(results, mediaTime, offset = 0) {
    const t = (mediaTime + offset) * 1e9;
    let best = null;
    let bestD = Infinity;
    for (const r of results) {
      if (typeof r.pts !== 'number') continue;
      const d = Math.abs(r.pts - t);
      if (d < bestD) { best = r; bestD = d; }
    }
    return best;
  }

  // ResultBuffer keeps one camera's recent results (the last keepMs by arrival).
  class ResultBuffer {
    constructor(keepMs = KEEP_RESULTS_MS, max = 300) {
      this.keepMs = keepMs;
      this.max = max;
      this.items = [];
      this.withRtp = 0; // items with an rtp_ts
    }

    add(msg, now = performance.now()) {
      this.items.push({ msg, at: now });
      if (typeof msg.rtp_ts === 'number') this.withRtp++;
      while (this.items.length && (this.items.length > this.max || now - this.items[0].at > this.keepMs)) {
        if (typeof this.items.shift().msg.rtp_ts === 'number') this.withRtp--;
      }
    }

    results() { return this.items.map((i) => i.msg); }

    clear() { this.items.length = 0; this.withRtp = 0; }

    get hasRtp() { return this.withRtp > 0; }

    latest() { return this.items.length ? this.items[this.items.length - 1].msg : null; }
  }

  // parseHash reads the page's address fragment: #cam=ID shows that camera alone.
  function parseHash(hash) {
    const p = new URLSearchParams((hash || '').replace(/^#/, ''));
    return { cam: p.get('cam') || '' };
  }

  // drawResult draws a result's boxes on ctx, a canvas of cssW×cssH CSS pixels with a backing
  // store scaled by dpr, over a video shown in rect (contentRect).
  function drawResult(ctx, result, rect, dpr) {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, ctx.canvas.width / dpr, ctx.canvas.height / dpr);
    if (!result || !(result.width > 0 && result.height > 0) || !Array.isArray(result.detections)) return;
    const fw = result.width;
    const fh = result.height;
    const scale = rect.w / fw;
    // overlay.Thickness and FontScale, in the frame's pixels, then scaled to the screen.
    const line = Math.max(1.5, Math.max(Math.floor(Math.min(fw, fh) / 240), 2) * scale);
    const fontPx = Math.max(10, Math.round(Math.max(Math.floor(Math.min(fw, fh) / 360), 1) * 9 * scale));
    ctx.save();
    ctx.beginPath();
    ctx.rect(rect.x, rect.y, rect.w, rect.h);
    ctx.clip();
    const boxes = result.detections.filter((d) => Array.isArray(d.box) && d.box.length === 4)
      .map((d) => ({ d, b: mapBox(d.box, fw, fh, rect) }));
    ctx.lineWidth = line;
    for (const { d, b } of boxes) { // drawn inside the box, as the server does
      ctx.strokeStyle = classColor(d.class_id);
      ctx.strokeRect(b.x + line / 2, b.y + line / 2, Math.max(0, b.w - line), Math.max(0, b.h - line));
    }
    ctx.font = `${fontPx}px ui-monospace, monospace`;
    ctx.textBaseline = 'top';
    for (const { d, b } of boxes) { // labels on top, above the box (inside it at the top edge)
      const text = labelText(d);
      const pad = Math.max(1, Math.round(fontPx / 6));
      const bw = ctx.measureText(text).width + 2 * pad;
      const bh = fontPx + 2 * pad;
      const bx = Math.max(rect.x, Math.min(b.x, rect.x + rect.w - bw));
      let by = b.y - bh;
      if (by < rect.y) by = Math.max(b.y, rect.y);
      by = Math.min(by, rect.y + rect.h - bh);
      ctx.fillStyle = classColor(d.class_id);
      ctx.fillRect(bx, by, bw, bh);
      ctx.fillStyle = textColor(d.class_id);
      ctx.fillText(text, bx + pad, by + pad);
    }
    ctx.restore();
  }

  const $ = (id) => document.getElementById(id);
  const authHeaders = (extra = {}) => (token ? { ...extra, Authorization: `Bearer ${token}` } : extra);

  class HTTPError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function errorText(resp) {
    try { return (await resp.json()).error || resp.statusText; } catch { return resp.statusText; }
  }

  async function getJSON(path) {
    const resp = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
    if (!resp.ok) throw new HTTPError(resp.status, `${resp.status} ${await errorText(resp)}`);
    return resp.json();
  }

  // ICE servers come in Link headers (rel="ice-server"); several headers arrive comma-joined.
  function parseIceLinks(header) {
    const servers = [];
    if (!header) return servers;
    const link = /<([^>]*)>((?:\s*;\s*[\w-]+\s*(?:=\s*(?:"(?:[^"\\]|\\.)*"|[^;,]*))?)*)/g;
    const param = /;\s*([\w-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,]*))?/g;
    for (const m of header.matchAll(link)) {
      const p = {};
      for (const a of m[2].matchAll(param)) {
        let v = (a[2] || '').trim();
        if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
        p[a[1].toLowerCase()] = v;
      }
      if (p.rel !== 'ice-server') continue;
      const s = { urls: m[1] };
      if ('username' in p) { s.username = p.username; s.credential = p.credential || ''; }
      servers.push(s);
    }
    return servers;
  }

  // The server's ICE servers, asked for once with OPTIONS; a server that does not answer
  // OPTIONS still sends them with each answer, and the next connection uses those.
  let iceServers = null;
  async function initialIceServers(camera) {
    if (iceServers) return iceServers;
    try {
      const resp = await fetch(`/whep/${encodeURIComponent(camera)}`, { method: 'OPTIONS', headers: authHeaders() });
      iceServers = resp.ok ? parseIceLinks(resp.headers.get('Link')) : [];
    } catch { iceServers = []; }
    return iceServers;
  }

  function gatheringComplete(pc, timeoutMs) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') { resolve(); return; }
      const done = () => { clearTimeout(timer); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
      const check = () => { if (pc.iceGatheringState === 'complete') done(); };
      const timer = setTimeout(done, timeoutMs); // answer with the candidates found so far
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  // The server sends H.264 only (constrained baseline). Firefox receives it only with its OpenH264
  // plugin, which it downloads by itself once online: without it (offline, or not fetched yet) its
  // offers carry no H.264, and the server could only refuse them.
  function canReceiveH264() {
    if (typeof RTCRtpReceiver === 'undefined' || !RTCRtpReceiver.getCapabilities) return true; // the server will tell
    const caps = RTCRtpReceiver.getCapabilities('video');
    return !caps || caps.codecs.some((c) => c.mimeType.toLowerCase() === 'video/h264');
  }
  const NO_H264 = 'The video is H.264 over WebRTC, which this browser does not offer to receive. Firefox plays it '
    + 'with its OpenH264 plugin (about:addons → Plugins), downloaded by itself when online; Chrome, Edge and '
    + 'Safari play it out of the box.';

  const utf8 = new TextDecoder();

  function deleteSession(url) {
    // keepalive lets the DELETE outlive the page on unload.
    fetch(url, { method: 'DELETE', headers: authHeaders(), keepalive: true }).catch(() => {});
  }

  // WHEPPlayer plays one camera into a <video> while it is active, reconnecting with backoff
  // when it fails. view is the view it asks for (passthrough or annotated); the server's
  // X-Gstvision-View header says which it got (a server without it sends annotated video).
  // A passthrough offer carries the "detections" data channel.
  class WHEPPlayer {
    constructor(camera, video, view, handlers) {
      this.camera = camera;
      this.video = video;
      this.view = view;
      this.h = handlers; // onStatus(kind, reason, delay), onView(view, reason), onTrack(receiver), onResult(msg), onChannel(open)
      this.backoff = 1000;
      this.closed = false;
      this.active = false;
      this.starting = false;
      this.pc = null;
      this.session = null;
    }

    // setActive starts a session (active) or ends it (not), without retries while inactive.
    setActive(on) {
      if (on === this.active) return;
      this.active = on;
      if (on) {
        this.backoff = 1000;
        this.start();
      } else {
        clearTimeout(this.retryTimer);
        this.teardown();
        this.h.onStatus('paused');
      }
    }

    // setView re-negotiates with the other view, when active.
    setView(view) {
      if (view === this.view) return;
      this.view = view;
      clearTimeout(this.retryTimer);
      this.teardown();
      this.backoff = 1000;
      this.start();
    }

    async start() {
      clearTimeout(this.retryTimer);
      if (this.closed || !this.active || this.pc || this.starting) return;
      if (!canReceiveH264()) {
        // No offer to make; look again now and then, in case the plugin arrives meanwhile.
        this.h.onStatus('unsupported', NO_H264);
        this.retryTimer = setTimeout(() => this.start(), MAX_BACKOFF_MS);
        return;
      }
      this.h.onStatus('connecting');
      this.starting = true;
      const servers = await initialIceServers(this.camera);
      this.starting = false;
      if (this.closed || !this.active || this.pc) return;
      const pc = new RTCPeerConnection({ iceServers: servers });
      this.pc = pc;
      const view = this.view;
      pc.addTransceiver('video', { direction: 'recvonly' });
      if (view === 'passthrough') {
        const dc = pc.createDataChannel('detections'); // before the offer, so that it has an m=application line
        dc.onopen = () => { if (pc === this.pc) this.h.onChannel(true); };
        dc.onclose = () => { if (pc === this.pc) this.h.onChannel(false); };
        dc.binaryType = 'arraybuffer'; // the server may send each JSON message as text or binary
        dc.onmessage = (e) => {
          if (pc !== this.pc) return;
          let msg;
          try {
            msg = JSON.parse(typeof e.data === 'string' ? e.data : utf8.decode(e.data));
          } catch { return; }
          this.h.onResult(msg);
        };
      }
      pc.ontrack = (e) => {
        this.video.srcObject = e.streams[0] || new MediaStream([e.track]);
        this.h.onTrack(e.receiver);
      };
      pc.onconnectionstatechange = () => this.onState(pc);
      try {
        await pc.setLocalDescription(await pc.createOffer());
        await gatheringComplete(pc, 2000); // the server takes no trickled candidates
        if (pc !== this.pc) return;
        const resp = await fetch(`/whep/${encodeURIComponent(this.camera)}?view=${view}`, {
          method: 'POST',
          headers: authHeaders({ 'Content-Type': 'application/sdp' }),
          body: pc.localDescription.sdp,
        });
        if (resp.status !== 201) throw new HTTPError(resp.status, `${resp.status} ${await errorText(resp)}`);
        const loc = resp.headers.get('Location');
        const session = loc ? new URL(loc, location.href).href : null;
        const links = parseIceLinks(resp.headers.get('Link'));
        if (links.length) iceServers = links;
        const answer = await resp.text();
        if (pc !== this.pc) { if (session) deleteSession(session); return; } // stopped meanwhile
        this.session = session;
        this.h.onView(resp.headers.get('X-Gstvision-View') || 'annotated', resp.headers.get('X-Gstvision-View-Reason') || '');
        await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      } catch (err) {
        if (pc === this.pc) this.fail(err.message || String(err));
      }
    }

    onState(pc) {
      if (pc !== this.pc) return;
      switch (pc.connectionState) {
        case 'connected':
          this.backoff = 1000;
          clearTimeout(this.lostTimer);
          this.h.onStatus('playing');
          break;
        case 'disconnected': // ICE may recover on its own; give it a moment
          clearTimeout(this.lostTimer);
          this.lostTimer = setTimeout(() => this.fail('connection lost'), 4000);
          break;
        case 'failed':
          this.fail('connection failed');
          break;
        case 'closed':
          this.fail('connection closed');
          break;
        default:
      }
    }

    fail(reason) {
      this.teardown();
      if (this.closed || !this.active) return;
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
      this.h.onStatus('retrying', reason, delay);
      this.retryTimer = setTimeout(() => this.start(), delay);
    }

    teardown() {
      clearTimeout(this.lostTimer);
      const pc = this.pc;
      this.pc = null;
      if (pc) {
        pc.ontrack = null;
        pc.onconnectionstatechange = null;
        pc.close();
      }
      if (this.session) {
        deleteSession(this.session);
        this.session = null;
      }
      this.video.srcObject = null;
      this.h.onChannel(false);
    }

    close() {
      this.closed = true;
      this.active = false;
      clearTimeout(this.retryTimer);
      this.teardown();
    }

    async framesDecoded() {
      if (!this.pc) return 0;
      let n = 0;
      (await this.pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0;
      });
      return n;
    }
  }

  const otherView = (v) => (v === 'passthrough' ? 'annotated' : 'passthrough');

  // Tile is one camera: header (view, toggle), video with the page's boxes and a message
  // overlay, recent detections. Its player runs only while the tile is on screen in a visible tab.
  class Tile {
    constructor(cam) {
      const id = cam.id;
      this.id = id;
      this.root = $('tile').content.firstElementChild.cloneNode(true);
      this.root.dataset.camera = id;
      this.q = (sel) => this.root.querySelector(sel);
      this.q('.name').textContent = id;
      this.q('.name').title = id;
      this.q('.name').href = `#cam=${encodeURIComponent(id)}`;
      this.video = this.q('video');
      this.canvas = this.q('canvas.boxes');
      this.ctx = this.canvas.getContext('2d');
      this.zoneCanvas = this.q('canvas.zones');
      this.zoneCtx = this.zoneCanvas.getContext('2d');
      this.geometry = null; // { zones, lines } from /api/cameras/{id}/zones
      this.events = []; // newest first
      this.eventList = this.q('.events');
      this.eventsDirty = true;
      this.loadGeometry();
      this.loadEvents();
      this.list = this.q('.detections');
      this.detections = [];
      this.dirty = true;
      this.camera = null;
      this.onScreen = false;
      this.videoStatus = { kind: 'paused' };
      this.want = cam.view === 'passthrough' ? 'passthrough' : 'annotated'; // the server's default for it
      this.got = null; // { view, reason } of the current session
      this.results = new ResultBuffer();
      this.channelOpen = false;
      this.offsets = []; // [at, pts − mediaTime] samples for matching by time
      this.drawn = null; // the result on the canvas
      this.matchNote = '';
      this.matches = { exact: 0, before: 0, time: 0 }; // frames drawn by each way of matching
      this.player = new WHEPPlayer(id, this.video, this.want, {
        onStatus: (kind, reason, delay) => {
          this.videoStatus = { kind, reason, delay };
          this.showMessage();
          if (kind === 'paused') { this.results.clear(); this.draw(null); this.showView(); }
        },
        onView: (view, reason) => { this.got = { view, reason }; this.showView(); },
        onTrack: (receiver) => { this.receiver = receiver; this.watchFrames(); },
        onResult: (msg) => this.results.add(msg),
        onChannel: (open) => { this.channelOpen = open; },
      });
      this.q('.toggle').addEventListener('click', () => this.toggle());
      new ResizeObserver(() => { this.fit = null; this.draw(this.drawn); this.drawZones(); }).observe(this.video);
      this.showView();
    }

    // loadGeometry reads the camera's zones and lines now and every ZONES_MS (they change
    // through the camera API).
    async loadGeometry() {
      clearTimeout(this.geoTimer);
      try {
        const geo = await getJSON(`/api/cameras/${encodeURIComponent(this.id)}/zones`);
        if (JSON.stringify(geo) !== JSON.stringify(this.geometry)) {
          this.geometry = geo;
          this.drawZones();
        }
      } catch { /* an older server, or the camera is gone: nothing to draw */ }
      if (!this.removed) this.geoTimer = setTimeout(() => this.loadGeometry(), ZONES_MS);
    }

    // loadEvents fills the events list with the camera's latest events; /ws adds the new ones.
    async loadEvents() {
      try {
        const evs = await getJSON(`/api/events?camera=${encodeURIComponent(this.id)}&limit=${MAX_EVENTS}`);
        const known = new Set(this.events.map((e) => e.id));
        for (const e of evs) if (!known.has(e.id)) this.events.push(e);
        this.events.sort((a, b) => b.id - a.id);
        this.events.length = Math.min(this.events.length, MAX_EVENTS);
        this.eventsDirty = true;
      } catch { /* no events on this server */ }
    }

    addEvent(e) {
      if (this.events.some((x) => x.id === e.id)) return;
      this.events.unshift(e);
      if (this.events.length > MAX_EVENTS) this.events.length = MAX_EVENTS;
      this.eventsDirty = true;
    }

    drawZones() {
      const v = this.video;
      const cssW = v.clientWidth;
      const cssH = v.clientHeight;
      const has = !!this.geometry && ((this.geometry.zones || []).length + (this.geometry.lines || []).length) > 0;
      this.zoneCanvas.hidden = !has;
      if (!has || !cssW || !cssH) return;
      const dpr = window.devicePixelRatio || 1;
      const size = backingSize(cssW, cssH, dpr);
      if (this.zoneCanvas.width !== size.width) this.zoneCanvas.width = size.width;
      if (this.zoneCanvas.height !== size.height) this.zoneCanvas.height = size.height;
      if (!this.fit) this.fit = getComputedStyle(v).objectFit || 'contain';
      const w = v.videoWidth || (this.drawn && this.drawn.width) || 16;
      const h = v.videoHeight || (this.drawn && this.drawn.height) || 9;
      drawGeometry(this.zoneCtx, this.geometry, contentRect(cssW, cssH, w, h, this.fit), dpr);
    }

    toggle() {
      this.want = otherView(this.want);
      this.got = null;
      this.results.clear();
      this.draw(null);
      this.player.setView(this.want);
      this.showView();
    }

    // setOnScreen is the IntersectionObserver's verdict; updateActive starts the player, or
    // stops it at once when the tab is hidden and after HIDDEN_GRACE_MS when scrolled away.
    setOnScreen(on) { this.onScreen = on; this.updateActive(); }

    updateActive() {
      if (this.onScreen && document.visibilityState !== 'hidden') {
        clearTimeout(this.leaveTimer);
        this.leaveTimer = null;
        this.player.setActive(true);
      } else if (document.visibilityState === 'hidden') {
        clearTimeout(this.leaveTimer);
        this.leaveTimer = null;
        this.player.setActive(false);
      } else if (this.player.active && !this.leaveTimer) {
        this.leaveTimer = setTimeout(() => { this.leaveTimer = null; this.player.setActive(false); }, HIDDEN_GRACE_MS);
      }
    }

    showView() {
      const el = this.q('.view');
      const got = this.got;
      el.textContent = got ? got.view : `${this.want}…`;
      el.className = `view pill ${got && got.view !== this.want ? 'warn' : ''}`;
      el.title = got ? `this tile asked for ${this.want} and got ${got.view}` : `asking for ${this.want}`;
      // The reason the server gives for annotated video: this session's fallback, or the
      // camera's (view_reason in /api/cameras) when the tile asked for annotated itself.
      const fellBack = got && got.view !== this.want;
      const camReason = this.camera && this.camera.view === 'annotated' && this.camera.view_reason;
      const text = fellBack ? `${got.view}: ${got.reason || 'the server chose it'}`
        : (this.want === 'annotated' && camReason ? `annotated: ${camReason}` : '');
      const reason = this.q('.reason');
      reason.hidden = !text;
      reason.textContent = text;
      this.q('.toggle').textContent = `show ${otherView(this.want)}`;
      const boxes = this.boxesOn();
      this.canvas.hidden = !boxes;
      if (!boxes) this.setNote('');
    }

    // boxesOn: the page draws boxes when the video it got is the camera's own.
    boxesOn() { return this.player.active && !!this.got && this.got.view === 'passthrough'; }

    setNote(text) {
      if (text === this.matchNote) return;
      this.matchNote = text;
      const n = this.q('.note');
      n.hidden = !text;
      n.textContent = text;
    }

    // watchFrames draws, for every frame shown, the boxes of that frame's result.
    watchFrames() {
      this.offsets = [];
      const v = this.video;
      if (typeof v.requestVideoFrameCallback === 'function') {
        if (this.frameCb != null) v.cancelVideoFrameCallback(this.frameCb);
        const onFrame = (now, meta) => {
          this.frameCb = v.requestVideoFrameCallback(onFrame);
          this.onFrame(meta.rtpTimestamp, meta.mediaTime);
        };
        this.frameCb = v.requestVideoFrameCallback(onFrame);
      } else if (!this.rafLoop) { // no per-frame callback: draw by time on each animation frame
        this.rafLoop = true;
        const loop = () => {
          if (!this.root.isConnected) return;
          if (this.onScreen && !v.paused && v.srcObject) this.onFrame(undefined, v.currentTime, 'boxes not frame-synced');
          requestAnimationFrame(loop);
        };
        requestAnimationFrame(loop);
      }
    }

    // delayPlayout holds the passthrough video back a little more (up to MAX_PLAYOUT_DELAY_MS)
    // when a frame shows before its detections arrived, so later frames wait for theirs: the
    // camera's video travels faster than its analysis.
    delayPlayout() {
      const r = this.receiver;
      if (!r || !('jitterBufferTarget' in r)) return;
      const target = Math.min(MAX_PLAYOUT_DELAY_MS, (r.jitterBufferTarget || 0) + PLAYOUT_DELAY_STEP_MS);
      if (target > (r.jitterBufferTarget || 0)) r.jitterBufferTarget = target;
    }

    onFrame(rtp, mediaTime, timeNote = 'boxes matched by time') {
      if (!this.boxesOn()) return;
      this.drawnRtp = rtp; // for tests: the frame whose boxes this.drawn holds
      const results = this.results.results();
      let r = null;
      if (typeof rtp === 'number' && this.results.hasRtp) {
        r = pickByRtp(results, rtp);
        if (r && rtpBefore(r.rtp_ts, rtp) > 90000) r = null; // over 1 s old: not this frame's
        if (r && rtpBefore(r.rtp_ts, rtp) === 0) this.matches.exact++;
        else if (r) { this.matches.before++; this.delayPlayout(); }
        this.setNote('');
      } else {
        // pts and mediaTime count from different origins (and Chromium's WebRTC mediaTime
        // follows the playout, not the RTP clock): estimate the offset as the smallest
        // (newest pts − mediaTime) of the last OFFSET_WINDOW_MS, results arriving before
        // their frames show.
        const latest = this.results.latest();
        const now = performance.now();
        if (latest && typeof latest.pts === 'number') this.offsets.push([now, latest.pts / 1e9 - mediaTime]);
        while (this.offsets.length && now - this.offsets[0][0] > OFFSET_WINDOW_MS) this.offsets.shift();
        if (this.offsets.length) {
          const offset = Math.min(...this.offsets.map((o) => o[1]));
          r = pickByTime(results, mediaTime, offset);
          if (r && Math.abs(r.pts / 1e9 - (mediaTime + offset)) > 1) r = null;
        }
        if (r) this.matches.time++;
        this.setNote(timeNote);
      }
      this.draw(r);
    }

    draw(result) {
      this.drawn = result;
      const v = this.video;
      const cssW = v.clientWidth;
      const cssH = v.clientHeight;
      if (!cssW || !cssH) return;
      const dpr = window.devicePixelRatio || 1;
      const size = backingSize(cssW, cssH, dpr);
      if (this.canvas.width !== size.width) this.canvas.width = size.width;
      if (this.canvas.height !== size.height) this.canvas.height = size.height;
      if (!this.fit) this.fit = getComputedStyle(v).objectFit || 'contain';
      const rect = contentRect(cssW, cssH, v.videoWidth || (result && result.width), v.videoHeight || (result && result.height), this.fit);
      drawResult(this.ctx, this.boxesOn() ? result : null, rect, dpr);
    }

    update(cam) {
      this.camera = cam;
      const state = this.q('.state');
      state.textContent = cam.state;
      state.className = `state pill ${{ running: 'ok', starting: 'warn', reconnecting: 'warn' }[cam.state] || 'bad'}`;
      const fps = Number(cam.fps || 0).toFixed(1);
      const gpu = cam.gpu === undefined ? '' : ` · GPU ${cam.gpu}`; // cuda mode: where it runs
      this.q('.stats').textContent = `${fps} fps · ${Number(cam.frames || 0).toLocaleString()} frames${gpu}`;
      this.showMessage();
      this.showView();
    }

    showMessage() {
      const box = this.q('.message');
      let title = '';
      let detail = '';
      const cam = this.camera;
      if (cam && cam.state !== 'running') {
        title = { starting: 'Starting…', reconnecting: 'Reconnecting to the camera…', failed: 'Camera failed',
          disabled: 'Camera disabled' }[cam.state] || `Camera ${cam.state}`;
        detail = cam.last_error || '';
      } else if (this.videoStatus.kind === 'connecting') {
        title = 'Connecting video…';
      } else if (this.videoStatus.kind === 'paused') {
        title = document.visibilityState === 'hidden' ? 'Video paused while the tab is hidden' : 'Video paused while off screen';
      } else if (this.videoStatus.kind === 'unsupported') {
        title = 'This browser cannot play the video (no H.264)';
        detail = this.videoStatus.reason;
      } else if (this.videoStatus.kind === 'retrying') {
        title = `Video unavailable, retrying in ${Math.round(this.videoStatus.delay / 1000)} s`;
        detail = this.videoStatus.reason || '';
      }
      box.hidden = !title;
      box.replaceChildren();
      if (!title) return;
      const strong = document.createElement('strong');
      strong.textContent = title;
      box.append(strong);
      if (detail) {
        const small = document.createElement('small');
        small.textContent = detail;
        box.append(small);
      }
    }

    // addResult takes a /ws result: listed, and matched by time to the frames while the
    // session's data channel brings no results with rtp_ts (a server without it).
    addResult(msg) {
      const dets = Array.isArray(msg.detections) ? msg.detections : [];
      this.detections.unshift(...dets); // newest result first, its detections in order
      if (this.detections.length > MAX_DETECTIONS) this.detections.length = MAX_DETECTIONS;
      if (dets.length) this.dirty = true;
      if (this.boxesOn() && !this.results.hasRtp) this.results.add(msg);
    }

    render() {
      if (this.eventsDirty && this.onScreen) this.renderEvents();
      if (this.video.videoWidth && this.video.videoWidth !== this.zonesW) { this.zonesW = this.video.videoWidth; this.drawZones(); }
      if (!this.dirty || !this.onScreen) return;
      this.dirty = false;
      const items = this.detections.map((d) => {
        const li = document.createElement('li');
        li.className = 'det';
        const sw = document.createElement('span');
        sw.className = 'swatch';
        sw.style.background = classColor(d.class_id);
        const label = document.createElement('span');
        label.className = 'label';
        label.textContent = `${d.track_id ? `#${d.track_id} ` : ''}${d.label || `class ${d.class_id}`}`;
        const score = document.createElement('span');
        score.className = 'score';
        score.textContent = `${Math.round((d.score || 0) * 100)}%`;
        const box = document.createElement('span');
        box.className = 'box';
        box.textContent = Array.isArray(d.box) ? `[${d.box.map((v) => Math.round(v)).join(', ')}]` : '';
        li.append(sw, label, score, box);
        return li;
      });
      if (!items.length) {
        const li = document.createElement('li');
        li.className = 'none';
        li.textContent = 'No detections yet';
        items.push(li);
      }
      this.list.replaceChildren(...items);
    }

    renderEvents() {
      this.eventsDirty = false;
      const items = this.events.map((e) => {
        const li = document.createElement('li');
        li.className = `event ${e.type}`;
        const time = document.createElement('span');
        time.className = 'age';
        time.textContent = e.ts ? new Date(e.ts).toLocaleTimeString() : '';
        const text = document.createElement(e.snapshot ? 'a' : 'span');
        text.className = 'what';
        text.textContent = eventText(e);
        if (e.snapshot) {
          text.href = token ? `${e.snapshot}?token=${encodeURIComponent(token)}` : e.snapshot;
          text.target = '_blank';
          text.title = 'the picture of that moment';
        }
        li.append(text, time);
        return li;
      });
      if (!items.length) {
        const li = document.createElement('li');
        li.className = 'none';
        li.textContent = 'No events yet';
        items.push(li);
      }
      this.eventList.replaceChildren(...items);
    }

    remove() {
      this.removed = true;
      clearTimeout(this.geoTimer);
      clearTimeout(this.leaveTimer);
      this.player.close();
      this.root.remove();
    }
  }

  const tiles = new Map();
  const single = parseHash(location.hash).cam; // #cam=ID: that camera alone, full size
  if (single) {
    document.body.classList.add('single');
    $('all').hidden = false;
    document.title = `${single} · gstvision`;
  }
  addEventListener('hashchange', () => location.reload()); // pagehide ends the sessions

  const onScreen = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const t = tiles.get(e.target.dataset.camera);
      if (t && t.root === e.target) t.setOnScreen(e.isIntersecting);
    }
  });
  document.addEventListener('visibilitychange', () => {
    for (const t of tiles.values()) { t.updateActive(); t.showMessage(); }
  });

  function banner(text) {
    const b = $('banner');
    b.hidden = !text;
    b.textContent = text || '';
  }

  async function refresh() {
    try {
      let cams = await getJSON('/api/cameras');
      banner(null);
      const all = cams.length;
      if (single) cams = cams.filter((c) => c.id === single);
      const seen = new Set();
      for (const cam of cams) {
        seen.add(cam.id);
        let t = tiles.get(cam.id);
        if (!t) {
          t = new Tile(cam);
          tiles.set(cam.id, t);
          $('grid').append(t.root);
          onScreen.observe(t.root);
        }
        t.update(cam);
      }
      for (const [id, t] of tiles) {
        if (!seen.has(id)) { onScreen.unobserve(t.root); t.remove(); tiles.delete(id); }
      }
      $('empty').hidden = cams.length > 0;
      $('empty').textContent = single ? `No camera "${single}".` : 'No cameras configured.';
      const running = cams.filter((c) => c.state === 'running').length;
      $('summary').textContent = single ? (cams.length ? `${cams[0].state}` : '')
        : `${running} of ${all} camera${all === 1 ? '' : 's'} running`;
    } catch (err) {
      banner(err.status === 401
        ? 'Not authorised: open this page with ?token=YOUR_TOKEN in its address.'
        : `Cannot reach the server: ${err.message}`);
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  let wsBackoff = 1000;
  function setLive(kind, text) {
    const el = $('live');
    el.className = `pill ${kind}`;
    el.textContent = text;
  }

  function connectWS() {
    const url = new URL('/ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (token) url.searchParams.set('token', token);
    if (single) url.searchParams.set('camera', single);
    url.searchParams.set('events', '1'); // events too: messages with a "type"
    const ws = new WebSocket(url);
    ws.onopen = () => { wsBackoff = 1000; setLive('ok', 'detections: live'); };
    ws.onmessage = (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch { return; }
      const t = tiles.get(msg.camera);
      if (t && msg.type) t.addEvent(msg);
      else if (t) t.addResult(msg);
    };
    ws.onclose = () => {
      setLive('bad', 'detections: reconnecting');
      setTimeout(connectWS, wsBackoff);
      wsBackoff = Math.min(wsBackoff * 2, MAX_BACKOFF_MS);
    };
  }

  setInterval(() => { for (const t of tiles.values()) t.render(); }, RENDER_MS);
  // Leave the WHEP sessions on the way out; a page restored from the back/forward cache starts over.
  addEventListener('pagehide', () => { for (const t of tiles.values()) t.player.close(); });
  addEventListener('pageshow', (e) => { if (e.persisted) location.reload(); });

  // For the console and tests: the tiles, and the pure parts.
  window.gstvision = {
    tiles,
    framesDecoded: (id) => (tiles.has(id) ? tiles.get(id).player.framesDecoded() : Promise.resolve(0)),
    lib: {
      PALETTE, classColor, textColor, labelText, contentRect, mapBox, backingSize, rtpBefore, pickByRtp,
      pickByTime, ResultBuffer, parseHash, drawResult, drawGeometry, eventText,
    },
  };

  refresh();
  connectWS();
})();
