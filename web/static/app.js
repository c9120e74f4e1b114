// The pidicon-mqtt web page: every display live, from the daemon's stream of
// server-sent events (api/stream), with controls that send commands
// (api/command, api/image/<name>) through the same checks as MQTT.
'use strict';

(() => {
  const MAX_EVENTS = 50;
  const SILENCE_MS = 25000; // the daemon pings every 10 s
  const MAX_IMAGE = 1 << 20;
  // How long a brightness change waits for its state before changes from
  // elsewhere move the slider again.
  const brightnessEchoWait = 3000;

  // model is what the daemon said last.
  const model = {
    base: 'pidicon',
    info: null,
    bridgeState: '',
    ready: false,
    reason: '',
    devices: new Map(), // id -> {state, availability, metrics, notification, frame}
    events: [],
  };
  const cards = new Map(); // id -> card
  let live = false;

  const $ = (sel, root = document) => root.querySelector(sel);

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k in e && typeof v !== 'string') e[k] = v;
      else e.setAttribute(k, v);
    }
    e.append(...children);
    return e;
  }

  function device(id) {
    let d = model.devices.get(id);
    if (!d) {
      d = { state: null, availability: '', metrics: null, notification: null, frame: 0 };
      model.devices.set(id, d);
    }
    return d;
  }

  // ---- the stream -------------------------------------------------------

  let source = null;
  let lastMessage = 0;
  let retry = 0;

  function connect() {
    clearTimeout(retry);
    if (source) source.close();
    source = new EventSource('api/stream');
    source.onmessage = (e) => {
      lastMessage = Date.now();
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      handle(msg);
    };
    source.onerror = () => {
      setLive(false);
      // The browser reconnects by itself, unless the daemon answered
      // with an error (a login page, a proxy's): then start again.
      if (source.readyState === EventSource.CLOSED) retry = setTimeout(connect, 2000);
    };
  }

  // A connection that went silent (a network that drops packets) is
  // taken for lost.
  setInterval(() => {
    if (live && Date.now() - lastMessage > SILENCE_MS) {
      setLive(false);
      connect();
    }
  }, 2000);

  function handle(msg) {
    switch (msg.type) {
      case 'snapshot': {
        model.base = msg.base;
        model.info = null;
        model.bridgeState = '';
        model.devices.clear();
        model.ready = msg.ready;
        model.reason = msg.reason || '';
        for (const t of msg.topics) applyTopic(t.topic, t.payload);
        for (const [id, v] of Object.entries(msg.frames)) device(id).frame = v;
        model.events = msg.events.slice(-MAX_EVENTS);
        setLive(true);
        renderLayout();
        renderEvents();
        for (const id of cards.keys()) loadFrame(id);
        break;
      }
      case 'topic': {
        const what = applyTopic(msg.topic, msg.payload);
        if (what === 'info') renderLayout();
        else if (what === 'bridge') renderBridge();
        else if (what) renderDevice(what);
        break;
      }
      case 'frame':
        device(msg.device).frame = msg.version;
        loadFrame(msg.device);
        break;
      case 'event':
        model.events.push(msg.event);
        if (model.events.length > MAX_EVENTS) model.events.splice(0, model.events.length - MAX_EVENTS);
        renderEvents();
        break;
      case 'ready':
        model.ready = msg.ready;
        model.reason = msg.reason || '';
        renderBridge();
        break;
    }
  }

  // applyTopic records a retained topic and says what to draw again:
  // 'info', 'bridge', a device id, or nothing.
  function applyTopic(topic, payload) {
    const prefix = model.base + '/';
    if (!topic.startsWith(prefix)) return null;
    const [id, leaf, extra] = topic.slice(prefix.length).split('/');
    if (extra !== undefined) return null;
    if (id === 'bridge') {
      if (leaf === 'info') {
        model.info = payload;
        return 'info';
      }
      if (leaf === 'state') {
        model.bridgeState = payload || '';
        return 'bridge';
      }
      return null;
    }
    const d = device(id);
    switch (leaf) {
      case 'state': d.state = payload; break;
      case 'availability': d.availability = payload || ''; break;
      case 'metrics': d.metrics = payload; break;
      case 'notification': d.notification = payload; break;
      default: return null;
    }
    return id;
  }

  let everLive = false;

  // setLive shows whether the page is connected to the daemon; without
  // it the controls are off (their commands could not be sent).
  function setLive(on) {
    live = on;
    everLive = everLive || on;
    const link = $('#link');
    if (on) {
      link.dataset.state = 'live';
      link.textContent = 'Live';
    } else {
      link.dataset.state = 'lost';
      link.textContent = everLive ? 'Lost the daemon: reconnecting…' : 'Cannot reach the daemon: retrying…';
    }
    for (const card of cards.values()) card.controls.disabled = !on;
  }

  // ---- commands ---------------------------------------------------------

  function topicOf(id, leaf) {
    return `${model.base}/${id}/${leaf}`;
  }

  // post sends a request and returns null, or the reason it failed.
  async function post(url, body, type) {
    let res;
    try {
      res = await fetch(url, { method: 'POST', headers: { 'Content-Type': type }, body, cache: 'no-store' });
    } catch (e) {
      return `The daemon cannot be reached (${e.message}).`;
    }
    if (res.ok) return null;
    let reason = `${res.status} ${res.statusText}`;
    try {
      const js = await res.json();
      if (js && js.error) reason = js.error;
    } catch {
      // not JSON: keep the status
    }
    return reason;
  }

  // send carries out a command; a refusal is shown next to the control,
  // and the controls go back to the daemon's state.
  async function send(card, key, topic, payload) {
    const box = card.errors[key];
    box.textContent = '';
    const err = await post('api/command', JSON.stringify({ topic, payload }), 'application/json');
    if (err) {
      box.textContent = err;
      if (key === 'scene') card.sceneDirty = false;
      renderDevice(card.id, true);
      return false;
    }
    return true;
  }

  // ---- the displays -----------------------------------------------------

  function sceneDetail(name) {
    const list = (model.info && model.info.sceneDetails) || [];
    return list.find((s) => s.name === name) || null;
  }

  function imageNames() {
    const list = (model.info && model.info.images) || [];
    return list.map((i) => i.name);
  }

  function createCard(info) {
    const id = info.id;
    const root = $('#display-template').content.firstElementChild.cloneNode(true);
    const prefix = `d-${id}-`;
    const role = (r) => root.querySelector(`[data-role="${r}"]`);
    for (const e of root.querySelectorAll('[data-role]')) e.id = prefix + e.dataset.role;
    for (const e of root.querySelectorAll('label[data-for]')) e.htmlFor = prefix + e.dataset.for;
    for (const e of root.querySelectorAll('output[data-for]')) e.htmlFor = prefix + e.dataset.for;
    root.dataset.device = id;
    const card = {
      id,
      root,
      name: role('name'),
      meta: role('meta'),
      availability: role('availability'),
      canvas: role('frame'),
      frameBox: role('frame-box'),
      controls: role('controls'),
      sceneForm: role('scene-form'),
      scene: role('scene'),
      sceneDesc: role('scene-desc'),
      params: role('params'),
      brightness: role('brightness'),
      brightnessValue: role('brightness-value'),
      displayOn: role('display-on'),
      logging: role('logging'),
      notifyForm: role('notify-form'),
      notifyText: role('notify-text'),
      notification: role('notification'),
      dismiss: role('dismiss'),
      imageForm: role('image-form'),
      imageFile: role('image-file'),
      imageName: role('image-name'),
      metrics: role('metrics'),
      playButtons: [...root.querySelectorAll('[data-play]')],
      errors: {
        scene: role('scene-error'),
        play: role('play-error'),
        brightness: role('brightness-error'),
        display: role('display-error'),
        logging: role('logging-error'),
        notify: role('notify-error'),
        image: role('image-error'),
      },
      paramInputs: [],
      sceneDirty: false,
      sceneShown: '',
      dragging: false,
      brightnessWant: null, // { value, until }: a change on its way to the daemon
      frameLoading: false,
      frameAgain: false,
      size: { width: 64, height: 64 },
    };
    card.controls.disabled = !live;
    wire(card);
    new ResizeObserver(() => fitFrame(card)).observe(card.frameBox);
    return card;
  }

  function wire(card) {
    const id = card.id;
    card.scene.addEventListener('change', () => {
      card.sceneDirty = true;
      const st = device(id).state;
      const name = card.scene.value;
      buildParams(card, name, st && name === st.activeScene ? st.sceneParams : {});
    });
    card.params.addEventListener('input', () => { card.sceneDirty = true; });
    card.params.addEventListener('change', () => { card.sceneDirty = true; });
    role(card, 'scene-reset').addEventListener('click', () => {
      card.sceneDirty = false;
      card.errors.scene.textContent = '';
      renderScene(card, true);
    });
    card.sceneForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const st = device(id).state;
      const name = card.scene.value;
      const params = collectParams(card);
      const ok = st && name === st.activeScene
        ? await send(card, 'scene', topicOf(id, 'sceneParams/set'), params)
        : await send(card, 'scene', topicOf(id, 'set'), { activeScene: name, sceneParams: params });
      if (ok) {
        card.sceneDirty = false;
        renderScene(card, true);
      }
    });

    for (const b of card.playButtons) {
      b.addEventListener('click', () => send(card, 'play', topicOf(id, 'playState/set'), b.dataset.play));
    }

    // While the slider is held, changes from elsewhere do not move it.
    card.brightness.addEventListener('pointerdown', () => { card.dragging = true; });
    const release = () => setTimeout(() => {
      // After the slider's own change event, if any.
      if (card.dragging) {
        card.dragging = false;
        renderDevice(id);
      }
    }, 0);
    card.brightness.addEventListener('pointerup', release);
    card.brightness.addEventListener('pointercancel', release);
    card.brightness.addEventListener('blur', release);
    card.brightness.addEventListener('input', () => { card.brightnessValue.textContent = card.brightness.value; });
    card.brightness.addEventListener('change', async () => {
      card.dragging = false;
      // Until the daemon's state says this value (or a while passed),
      // the state of an earlier change must not move the slider back:
      // the next arrow key would step from the old value.
      const want = Number(card.brightness.value);
      card.brightnessWant = { value: want, until: Date.now() + brightnessEchoWait };
      setTimeout(() => {
        if (card.brightnessWant && card.brightnessWant.value === want) {
          card.brightnessWant = null;
          renderDevice(id);
        }
      }, brightnessEchoWait);
      // A refusal forces the daemon's state back (send).
      await send(card, 'brightness', topicOf(id, 'brightness/set'), card.brightness.value);
    });
    card.displayOn.addEventListener('change', () =>
      send(card, 'display', topicOf(id, 'displayOn/set'), card.displayOn.checked ? 'true' : 'false'));
    card.logging.addEventListener('change', () =>
      send(card, 'logging', topicOf(id, 'loggingLevel/set'), card.logging.value));

    card.notifyForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = card.notifyText.value;
      if (await send(card, 'notify', topicOf(id, 'notify'), { text })) card.notifyText.value = '';
    });
    card.dismiss.addEventListener('click', () => send(card, 'notify', topicOf(id, 'notify/dismiss'), null));

    card.imageFile.addEventListener('change', () => {
      const f = card.imageFile.files[0];
      if (f) card.imageName.value = imageNameOf(f.name);
    });
    card.imageForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const box = card.errors.image;
      box.textContent = '';
      const f = card.imageFile.files[0];
      if (!f) {
        box.textContent = 'Choose an image file first.';
        return;
      }
      if (f.size > MAX_IMAGE) {
        box.textContent = `The image is larger than 1 MiB (${f.size} bytes).`;
        return;
      }
      const name = card.imageName.value.trim() || imageNameOf(f.name);
      const err = await post(`api/image/${encodeURIComponent(name)}`, f, f.type || 'application/octet-stream');
      if (err) {
        box.textContent = err;
        return;
      }
      if (await send(card, 'image', topicOf(id, 'set'), { activeScene: 'image', sceneParams: { image: name } })) {
        card.imageForm.reset();
      }
    });
  }

  function role(card, r) {
    return card.root.querySelector(`[data-role="${r}"]`);
  }

  // imageNameOf makes an image name (the device-id rule) from a file name.
  function imageNameOf(file) {
    let n = file.replace(/\.[^.]*$/, '').toLowerCase().replace(/[^a-z0-9_-]+/g, '-');
    n = n.replace(/^[-_]+/, '').slice(0, 64);
    return n || 'image';
  }

  // renderLayout creates, orders and removes the cards after bridge/info.
  function renderLayout() {
    const list = (model.info && model.info.devices) || [];
    const container = $('#displays');
    const ids = new Set(list.map((d) => d.id));
    for (const [id, card] of cards) {
      if (!ids.has(id)) {
        card.root.remove();
        cards.delete(id);
      }
    }
    list.forEach((info, i) => {
      let card = cards.get(info.id);
      if (!card) {
        card = createCard(info);
        cards.set(info.id, card);
      }
      const at = container.children[i + 1]; // after the "no displays" line
      if (at !== card.root) container.insertBefore(card.root, at || null);
      card.info = info;
      card.name.textContent = info.name || info.id;
      const size = info.size || { width: 64, height: 64 };
      card.meta.textContent = `${info.id} · ${info.type} · ${size.width}×${size.height}`;
      if (card.size.width !== size.width || card.size.height !== size.height || !card.sized) {
        card.size = size;
        card.sized = true;
        card.canvas.width = size.width;
        card.canvas.height = size.height;
        fitFrame(card);
        loadFrame(info.id);
      }
      card.canvas.setAttribute('aria-label', `What ${info.name || info.id} shows now`);
      renderDevice(info.id);
    });
    $('#no-displays').hidden = list.length > 0;
    renderBridge();
  }

  // fitFrame scales the canvas by a whole number, so every pixel of the
  // display is a square of the same size.
  function fitFrame(card) {
    const avail = card.frameBox.clientWidth - 16;
    const w = card.canvas.width;
    const h = card.canvas.height;
    const scale = Math.max(1, Math.min(Math.floor(avail / w), Math.floor(320 / h)));
    card.canvas.style.width = `${w * scale}px`;
    card.canvas.style.height = `${h * scale}px`;
  }

  function renderDevice(id, force = false) {
    const card = cards.get(id);
    if (!card) return;
    const d = device(id);
    const st = d.state;
    const av = d.availability || 'unknown';
    card.availability.textContent = av;
    card.availability.dataset.value = av;
    if (st) {
      card.root.dataset.displayOn = String(st.displayOn);
      for (const b of card.playButtons) b.setAttribute('aria-pressed', String(b.dataset.play === st.playState));
      const want = card.brightnessWant;
      if (want && (force || st.brightness === want.value || Date.now() >= want.until)) {
        card.brightnessWant = null;
      }
      if ((!card.dragging && !card.brightnessWant) || force) {
        card.brightness.value = st.brightness;
        card.brightnessValue.textContent = st.brightness;
      }
      card.displayOn.checked = !!st.displayOn;
      card.logging.value = st.loggingLevel;
    }
    renderScene(card, force);
    renderMetrics(card, d.metrics);
    renderNotification(card, d.notification);
  }

  function renderScene(card, force) {
    const st = device(card.id).state;
    const scenes = (card.info && card.info.scenes) || [];
    const images = imageNames();
    const active = st ? st.activeScene : '';
    const key = JSON.stringify([scenes, active, st && st.sceneParams, images]);
    if (card.sceneDirty && !force) return;
    if (key === card.sceneShown && !force) return;
    card.sceneShown = key;
    const names = scenes.includes(active) || !active ? scenes : [...scenes, active];
    card.scene.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
    card.scene.value = active;
    buildParams(card, active, st ? st.sceneParams : {});
  }

  // buildParams draws a field for each parameter of the scene, with the
  // values given (the scene's defaults for the others).
  function buildParams(card, name, values) {
    const detail = sceneDetail(name);
    card.sceneDesc.textContent = detail ? detail.description : '';
    card.paramInputs = [];
    const rows = [];
    for (const p of (detail && detail.params) || []) {
      const fid = `d-${card.id}-p-${p.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      const has = values && Object.prototype.hasOwnProperty.call(values, p.name);
      const v = has ? values[p.name] : p.default;
      let input;
      switch (p.type) {
        case 'bool':
          input = el('input', { type: 'checkbox' });
          input.checked = !!v;
          break;
        case 'color':
          input = el('input', { type: 'color' });
          input.value = typeof v === 'string' && /^#[0-9a-fA-F]{6}$/.test(v) ? v.toLowerCase() : '#000000';
          break;
        case 'int':
        case 'number':
          input = el('input', { type: 'number', step: p.type === 'int' ? '1' : 'any', inputmode: p.type === 'int' ? 'numeric' : 'decimal' });
          if (p.min !== undefined) input.min = p.min;
          if (p.max !== undefined) input.max = p.max;
          input.value = v === undefined || v === null ? '' : v;
          break;
        case 'enum':
          input = el('select', {}, ...(p.options || []).map((o) => el('option', { value: o }, o)));
          input.value = v === undefined ? (p.options || [''])[0] : v;
          break;
        case 'image': {
          const names = imageNames();
          if (v && !names.includes(v)) names.push(v);
          input = el('select', {}, el('option', { value: '' }, '(none)'), ...names.map((o) => el('option', { value: o }, o)));
          input.value = v || '';
          break;
        }
        default:
          input = el('input', { type: 'text', autocomplete: 'off' });
          if (p.maxLength) input.maxLength = p.maxLength;
          input.value = v === undefined || v === null ? '' : v;
      }
      input.id = fid;
      input.dataset.param = p.name;
      const label = el('label', { for: fid }, p.required ? `${p.name} (required)` : p.name);
      const row = el('div', { class: 'param' }, label, input);
      if (p.description) {
        const hint = el('p', { class: 'hint', id: `${fid}-hint` }, p.description);
        input.setAttribute('aria-describedby', hint.id);
        row.append(hint);
      }
      rows.push(row);
      card.paramInputs.push({ p, input });
    }
    card.params.replaceChildren(...rows);
  }

  // collectParams reads the form: the values that differ from the
  // defaults (a parameter left out takes its default).
  function collectParams(card) {
    const out = {};
    for (const { p, input } of card.paramInputs) {
      let v;
      switch (p.type) {
        case 'bool': v = input.checked; break;
        case 'int':
        case 'number':
          if (input.value === '') continue;
          v = Number(input.value);
          break;
        case 'image':
          if (input.value === '') continue;
          v = input.value;
          break;
        default:
          v = input.value;
          if (v === '' && !p.required) continue;
      }
      const def = typeof p.default === 'string' ? p.default.toLowerCase() : p.default;
      const cur = typeof v === 'string' && p.type === 'color' ? v.toLowerCase() : v;
      if (!p.required && def !== undefined && cur === def) continue;
      out[p.name] = v;
    }
    return out;
  }

  function renderMetrics(card, m) {
    if (!m) {
      card.metrics.replaceChildren(el('dt', {}, 'status'), el('dd', {}, 'no metrics yet'));
      return;
    }
    const rows = [
      ['status', m.status],
      ['generation', m.generationId],
      ['frames pushed', m.pushes],
      ['frames skipped', m.skipped],
      ['errors', m.errors],
      ['fps', typeof m.fps === 'number' ? m.fps.toFixed(1) : m.fps],
      ['last seen', m.lastSeen ? new Date(m.lastSeen).toLocaleTimeString() : 'never'],
    ];
    card.metrics.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]));
  }

  function renderNotification(card, n) {
    const showing = n && n.showing;
    if (showing) {
      const queued = n.queued ? ` (${n.queued} waiting)` : '';
      card.notification.textContent = `Showing: ${showing.text || showing.image || 'an image'}${queued}`;
    } else {
      card.notification.textContent = n && n.queued ? `${n.queued} waiting.` : 'None showing.';
    }
    card.dismiss.disabled = !showing;
  }

  // ---- frames -----------------------------------------------------------

  // loadFrame fetches the display's frame, at most one request at a time
  // per display; a newer frame that comes meanwhile is fetched after it.
  async function loadFrame(id) {
    const card = cards.get(id);
    const d = model.devices.get(id);
    if (!card) return;
    if (!d || !d.frame) {
      card.canvas.getContext('2d').clearRect(0, 0, card.canvas.width, card.canvas.height);
      return;
    }
    if (card.frameLoading) {
      card.frameAgain = true;
      return;
    }
    card.frameLoading = true;
    try {
      do {
        card.frameAgain = false;
        const res = await fetch(`api/frame/${encodeURIComponent(id)}.png`, { cache: 'no-store' });
        if (!res.ok) break;
        const bitmap = await createImageBitmap(await res.blob(), { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
        drawFrame(card, bitmap);
        bitmap.close();
      } while (card.frameAgain);
    } catch {
      // lost the daemon: the snapshot after the reconnection brings it
    } finally {
      card.frameLoading = false;
    }
  }

  function drawFrame(card, bitmap) {
    const c = card.canvas;
    if (c.width !== bitmap.width || c.height !== bitmap.height) {
      c.width = bitmap.width;
      c.height = bitmap.height;
      fitFrame(card);
    }
    const ctx = c.getContext('2d');
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.drawImage(bitmap, 0, 0);
    card.root.dataset.frame = String(device(card.id).frame);
  }

  // ---- the bridge -------------------------------------------------------

  function renderBridge() {
    const broker = $('#broker');
    broker.textContent = model.ready ? 'connected' : (model.reason || 'not connected');
    broker.dataset.ready = String(model.ready);
    $('#version').textContent = (model.info && model.info.version) || '…';
    const images = (model.info && model.info.images) || [];
    $('#images').textContent = images.length
      ? images.map((i) => `${i.name} (${i.width}×${i.height}${i.frames > 1 ? `, ${i.frames} frames` : ''})`).join(', ')
      : 'none';
  }

  function renderEvents() {
    const list = $('#events');
    const items = model.events.slice().reverse().map((e) => {
      const when = new Date(e.time);
      const parts = [
        el('time', { datetime: e.time }, isNaN(when) ? e.time : when.toLocaleTimeString()), ' ',
        el('span', { class: 'level' }, e.level), ' ',
      ];
      if (e.device) parts.push(el('strong', {}, e.device), ' ');
      parts.push(el('code', {}, e.topic), ': ', el('span', { class: 'message' }, e.error));
      if (e.payload) parts.push(' ', el('code', { class: 'payload' }, `“${e.payload}${e.truncated ? '…' : ''}”`));
      return el('li', { 'data-level': e.level }, ...parts);
    });
    list.replaceChildren(...items);
    $('#no-events').hidden = items.length > 0;
  }

  connect();
})();
