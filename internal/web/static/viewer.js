// gstvision viewer: a grid of cameras from /api/cameras, each playing its annotated video over
// WHEP (/whep/{id}) with the recent detections from /ws underneath. No build step, no library.
'use strict';
(() => {
  const token = new URLSearchParams(location.search).get('token') || '';
  const REFRESH_MS = 2000;   // camera list poll
  const RENDER_MS = 250;     // detection lists redraw at most this often
  const MAX_DETECTIONS = 8;  // per camera
  const MAX_BACKOFF_MS = 30000;
  // Same colours as overlay.Palette (and the GPU kernel), so swatches match the drawn boxes.
  const PALETTE = [[255, 51, 51], [110, 255, 89], [43, 87, 217], [255, 89, 151], [153, 255, 51],
    [76, 164, 217], [255, 51, 204], [234, 255, 89], [43, 217, 217], [234, 89, 255], [255, 204, 51],
    [76, 217, 164], [153, 51, 255], [255, 151, 89], [43, 217, 87], [110, 89, 255]];
  const classColor = (id) => {
    const n = PALETTE.length;
    return `rgb(${PALETTE[(((id | 0) % n) + n) % n].join(',')})`;
  };

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

  function deleteSession(url) {
    // keepalive lets the DELETE outlive the page on unload.
    fetch(url, { method: 'DELETE', headers: authHeaders(), keepalive: true }).catch(() => {});
  }

  // WHEPPlayer plays one camera into a <video>, reconnecting with backoff when it fails.
  class WHEPPlayer {
    constructor(camera, video, onStatus) {
      this.camera = camera;
      this.video = video;
      this.onStatus = onStatus;
      this.backoff = 1000;
      this.closed = false;
      this.pc = null;
      this.session = null;
      this.start();
    }

    async start() {
      clearTimeout(this.retryTimer);
      if (this.closed) return;
      if (!canReceiveH264()) {
        // No offer to make; look again now and then, in case the plugin arrives meanwhile.
        this.onStatus('unsupported', NO_H264);
        this.retryTimer = setTimeout(() => this.start(), MAX_BACKOFF_MS);
        return;
      }
      this.onStatus('connecting');
      const servers = await initialIceServers(this.camera);
      if (this.closed) return;
      const pc = new RTCPeerConnection({ iceServers: servers });
      this.pc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.ontrack = (e) => { this.video.srcObject = e.streams[0] || new MediaStream([e.track]); };
      pc.onconnectionstatechange = () => this.onState(pc);
      try {
        await pc.setLocalDescription(await pc.createOffer());
        await gatheringComplete(pc, 2000); // the server takes no trickled candidates
        if (pc !== this.pc) return;
        const resp = await fetch(`/whep/${encodeURIComponent(this.camera)}`, {
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
          this.onStatus('playing');
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
      if (this.closed) return;
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
      this.onStatus('retrying', reason, delay);
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
    }

    close() {
      this.closed = true;
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

  // Tile is one camera: header, video with a message overlay, recent detections.
  class Tile {
    constructor(id) {
      this.id = id;
      this.root = $('tile').content.firstElementChild.cloneNode(true);
      this.root.dataset.camera = id;
      this.q = (sel) => this.root.querySelector(sel);
      this.q('.name').textContent = id;
      this.q('.name').title = id;
      this.video = this.q('video');
      this.list = this.q('.detections');
      this.detections = [];
      this.dirty = true;
      this.camera = null;
      this.videoStatus = { kind: 'connecting' };
      this.player = new WHEPPlayer(id, this.video, (kind, reason, delay) => {
        this.videoStatus = { kind, reason, delay };
        this.showMessage();
      });
    }

    update(cam) {
      this.camera = cam;
      const state = this.q('.state');
      state.textContent = cam.state;
      state.className = `state pill ${{ running: 'ok', starting: 'warn', reconnecting: 'warn' }[cam.state] || 'bad'}`;
      const fps = Number(cam.fps || 0).toFixed(1);
      this.q('.stats').textContent = `${fps} fps · ${Number(cam.frames || 0).toLocaleString()} frames`;
      this.showMessage();
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

    addResult(msg) {
      const dets = Array.isArray(msg.detections) ? msg.detections : [];
      this.detections.unshift(...dets); // newest result first, its detections in order
      if (this.detections.length > MAX_DETECTIONS) this.detections.length = MAX_DETECTIONS;
      if (dets.length) this.dirty = true;
    }

    render() {
      if (!this.dirty) return;
      this.dirty = false;
      const items = this.detections.map((d) => {
        const li = document.createElement('li');
        li.className = 'det';
        const sw = document.createElement('span');
        sw.className = 'swatch';
        sw.style.background = classColor(d.class_id);
        const label = document.createElement('span');
        label.className = 'label';
        label.textContent = d.label || `class ${d.class_id}`;
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

    remove() {
      this.player.close();
      this.root.remove();
    }
  }

  const tiles = new Map();

  function banner(text) {
    const b = $('banner');
    b.hidden = !text;
    b.textContent = text || '';
  }

  async function refresh() {
    try {
      const cams = await getJSON('/api/cameras');
      banner(null);
      const seen = new Set();
      for (const cam of cams) {
        seen.add(cam.id);
        let t = tiles.get(cam.id);
        if (!t) {
          t = new Tile(cam.id);
          tiles.set(cam.id, t);
          $('grid').append(t.root);
        }
        t.update(cam);
      }
      for (const [id, t] of tiles) {
        if (!seen.has(id)) { t.remove(); tiles.delete(id); }
      }
      $('empty').hidden = cams.length > 0;
      const running = cams.filter((c) => c.state === 'running').length;
      $('summary').textContent = `${running} of ${cams.length} camera${cams.length === 1 ? '' : 's'} running`;
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
    const ws = new WebSocket(url);
    ws.onopen = () => { wsBackoff = 1000; setLive('ok', 'detections: live'); };
    ws.onmessage = (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch { return; }
      const t = tiles.get(msg.camera);
      if (t) t.addResult(msg);
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

  // For the console and tests.
  window.gstvision = {
    tiles,
    framesDecoded: (id) => (tiles.has(id) ? tiles.get(id).player.framesDecoded() : Promise.resolve(0)),
  };

  refresh();
  connectWS();
})();
