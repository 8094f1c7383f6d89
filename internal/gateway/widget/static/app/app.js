// coachwire app (docs/app.md): the installable full-screen chat at /a/<slug>/. Plain ES2018, no
// build. It speaks the widget's socket protocol (coachwire.v1: resume after the last seq, messages
// with the client's idempotent ids, ack and retry, streamed deltas by turn replaced by the final
// message, replayed history matched by client_id), keeps the recent conversation and the outbox
// of messages written offline in IndexedDB, and sends the outbox once, in order, when the
// connection returns.
(function () {
  'use strict';

  const body = document.body;
  const slug = body.getAttribute('data-slug');
  const base = '/a/' + slug + '/';
  const PROTOCOL = 'coachwire.v1';
  const HISTORY_KEEP = 100;
  // After a message of the outbox is acknowledged, the next one waits for the coach's reply (so
  // each message written offline gets its own answer), at most this long.
  const REPLY_WAIT_MS = 45000;
  const $ = (id) => document.getElementById(id);

  const st = {
    session: null,
    status: 'offline',
    ready: false,
    lastSeq: 0,
    // messages: shown messages by id (client id for the person's own), in display order in list.
    messages: new Map(),
    list: [],
    drafts: new Map(),
    finished: new Set(),
    outbox: [],
    inflight: null,
    awaitReply: 0,
    me: null,
    sw: null,
    conversation: null,
    pushesShownHere: 0,
  };
  let ws = null;
  let attempts = 0;
  let reconnectTimer = 0;
  // connecting is true while connect waits for a session: a second call then (the network back
  // and the page shown at once) must not open a second socket, which would stay open unseen.
  let connecting = false;
  let retryTimer = 0;
  let seenSent = 0;

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  // ---- IndexedDB: kv (history, last seq) and the outbox -------------------------------------
  let dbp = null;
  function idb() {
    if (!dbp) {
      dbp = new Promise((resolve, reject) => {
        const r = indexedDB.open('coachwire-app-' + slug, 1);
        r.onupgradeneeded = () => {
          r.result.createObjectStore('kv');
          r.result.createObjectStore('outbox', { keyPath: 'id' });
        };
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
    }
    return dbp;
  }
  function store(name, mode, fn) {
    return idb().then((db) => new Promise((resolve, reject) => {
      const t = db.transaction(name, mode);
      const s = t.objectStore(name);
      const req = fn(s);
      t.oncomplete = () => resolve(req && req.result);
      t.onerror = () => reject(t.error);
    })).catch(() => null);
  }
  function saveHistory() {
    const keep = st.list.filter((m) => !m.waiting).slice(-HISTORY_KEEP)
      .map((m) => ({ id: m.id, seq: m.seq, order: m.order, role: m.role, text: m.text, sources: m.sources, at: m.at }));
    return store('kv', 'readwrite', (s) => s.put({ lastSeq: st.lastSeq, messages: keep, conversation: st.conversation }, 'history'));
  }

  // ---- rendering --------------------------------------------------------------------------------
  const log = $('log');
  const scroller = $('scroll');
  const input = $('input');

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }
  function toBottom() {
    scroller.scrollTop = scroller.scrollHeight;
  }
  function clock(ms) {
    try {
      return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    } catch (e) {
      return '';
    }
  }
  // ---- Markdown: the widget's safe subset (widget.js renderMarkdown), built node by node -------
  // Never HTML strings: text goes into text nodes, links only to http(s) (and mailto in [text](url)),
  // and [n] markers name the sources listed under the reply.
  const MD_MAX_DEPTH = 4; // deeper list nesting is flattened; inline nesting likewise bounded
  const QUOTE_RE = /^>[ \t]?/;
  const CITE_RE = /^\[\d+\] /;
  const LIST_RE = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/g;

  // safeURL is an absolute http(s) URL, or '' (never javascript:, data:, ...).
  function safeURL(v, mail) {
    if (!v || typeof v !== 'string') return '';
    try {
      const u = new URL(v);
      if (u.protocol === 'https:' || u.protocol === 'http:' || (mail && u.protocol === 'mailto:')) return u.href;
    } catch (e) { /* not a URL */ }
    return '';
  }
  function link(href) {
    const a = document.createElement('a');
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    return a;
  }
  // fillText appends text, turning http(s) URLs into links. Text nodes only.
  function fillText(el, text, linkify) {
    if (!linkify) {
      el.appendChild(document.createTextNode(text));
      return;
    }
    let last = 0;
    text.replace(URL_RE, (match, offset) => {
      let url = match;
      const trail = /[).,;:!?\]]+$/.exec(url);
      if (trail) url = url.slice(0, url.length - trail[0].length);
      if (offset > last) el.appendChild(document.createTextNode(text.slice(last, offset)));
      const href = safeURL(url);
      if (href) {
        const a = link(href);
        a.textContent = url;
        el.appendChild(a);
      } else {
        el.appendChild(document.createTextNode(url));
      }
      last = offset + url.length;
      return match;
    });
    if (last < text.length) el.appendChild(document.createTextNode(text.slice(last)));
  }
  function isListItem(line) {
    return LIST_RE.test(line);
  }
  function renderMarkdown(el, text, linkify, refs) {
    el.textContent = '';
    const lines = String(text).replace(/\r\n?/g, '\n').split('\n');
    const ctx = { linkify: linkify, refs: refs || null };
    let para = null; // lines of the open paragraph
    let lists = []; // open lists: {indent, el, ordered, li}
    const closeLists = () => { lists = []; };
    const flushPara = () => {
      if (!para) return;
      const p = document.createElement('p');
      inlineLines(p, para, ctx);
      (lists.length ? lists[lists.length - 1].li : el).appendChild(p);
      para = null;
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (QUOTE_RE.test(line)) {
        flushPara();
        closeLists();
        const quoted = [];
        while (i < lines.length && QUOTE_RE.test(lines[i])) quoted.push(lines[i++].replace(QUOTE_RE, ''));
        i--;
        const q = document.createElement('blockquote');
        q.className = 'quote';
        q.textContent = quoted.join('\n');
        el.appendChild(q);
        continue;
      }
      if (CITE_RE.test(line) && i + 1 < lines.length && QUOTE_RE.test(lines[i + 1])) {
        flushPara();
        closeLists();
        const c = document.createElement('p');
        c.className = 'cite';
        c.textContent = line;
        el.appendChild(c);
        continue;
      }
      const fence = /^\s*(```|~~~)/.exec(line);
      if (fence) {
        flushPara();
        closeLists();
        const code = [];
        for (i++; i < lines.length && lines[i].trim().indexOf(fence[1]) !== 0; i++) code.push(lines[i]);
        const pre = document.createElement('pre');
        const c = document.createElement('code');
        c.textContent = code.join('\n');
        pre.appendChild(c);
        el.appendChild(pre);
        continue;
      }
      if (!line.trim()) {
        flushPara();
        if (lists.length && !isListItem(lines[i + 1] || '')) closeLists();
        continue;
      }
      const h = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
      if (h) {
        flushPara();
        closeLists();
        const hd = document.createElement(h[1].length <= 2 ? 'h3' : 'h4');
        inline(hd, h[2], ctx, 0);
        el.appendChild(hd);
        continue;
      }
      if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
        flushPara();
        closeLists();
        el.appendChild(document.createElement('hr'));
        continue;
      }
      const li = LIST_RE.exec(line);
      if (li) {
        flushPara();
        const indent = li[1].replace(/\t/g, '    ').length;
        const ordered = /\d/.test(li[2]);
        while (lists.length && indent < lists[lists.length - 1].indent) lists.pop();
        let top = lists[lists.length - 1];
        if (!top || (indent > top.indent + 1 && lists.length < MD_MAX_DEPTH)) {
          const l = document.createElement(ordered ? 'ol' : 'ul');
          if (ordered && parseInt(li[2], 10) > 1) l.start = parseInt(li[2], 10);
          (top ? top.li : el).appendChild(l);
          top = { indent: indent, el: l, ordered: ordered, li: null };
          lists.push(top);
        } else if (top.ordered !== ordered && indent <= top.indent + 1 && lists.length === 1) {
          const l = document.createElement(ordered ? 'ol' : 'ul');
          el.appendChild(l);
          top = lists[0] = { indent: indent, el: l, ordered: ordered, li: null };
        }
        top.li = document.createElement('li');
        top.el.appendChild(top.li);
        para = [li[3]];
        flushPara();
        // A list item's text is its own paragraph-less line: unwrap the <p>.
        const p = top.li.lastChild;
        if (p && p.nodeName === 'P') {
          while (p.firstChild) top.li.insertBefore(p.firstChild, p);
          top.li.removeChild(p);
        }
        continue;
      }
      if (lists.length && /^\s+\S/.test(line) && !para) {
        // a continuation line of the last list item
        const last = lists[lists.length - 1].li;
        last.appendChild(document.createTextNode(' '));
        inline(last, line.trim(), ctx, 0);
        continue;
      }
      if (!para) {
        if (lists.length) closeLists();
        para = [];
      }
      para.push(line);
    }
    flushPara();
  }
  // inlineLines joins wrapped lines; two trailing spaces or a backslash keep the break.
  function inlineLines(p, lines, ctx) {
    lines.forEach((l, i) => {
      const hard = /( {2,}|\\)$/.test(l);
      inline(p, l.replace(/\s*\\?$/, '').trim(), ctx, 0);
      if (i < lines.length - 1) p.appendChild(hard ? document.createElement('br') : document.createTextNode(' '));
    });
  }
  // inline renders emphasis, code spans, links and citation markers of one line of text.
  function inline(parent, s, ctx, depth) {
    let buf = '';
    const flush = () => {
      if (buf) fillText(parent, buf, ctx.linkify);
      buf = '';
    };
    for (let i = 0; i < s.length;) {
      const c = s[i];
      if (c === '\\' && i + 1 < s.length && /[\\`*_[\]()#>+\-.!~]/.test(s[i + 1])) {
        buf += s[i + 1];
        i += 2;
        continue;
      }
      if (c === '`') {
        const j = s.indexOf('`', i + 1);
        if (j > i + 1) {
          flush();
          const code = document.createElement('code');
          code.textContent = s.slice(i + 1, j);
          parent.appendChild(code);
          i = j + 1;
          continue;
        }
      }
      if ((c === '*' || c === '_') && depth < MD_MAX_DEPTH) {
        const mark = s[i + 1] === c ? c + c : c;
        const from = i + mark.length;
        const j = s.indexOf(mark, from);
        if (j > from && s[from] !== ' ' && s[j - 1] !== ' ' && (c === '*' || !/\w/.test(s[i - 1] || '') && !/\w/.test(s[j + mark.length] || ''))) {
          flush();
          const em = document.createElement(mark.length === 2 ? 'strong' : 'em');
          inline(em, s.slice(from, j), ctx, depth + 1);
          parent.appendChild(em);
          i = j + mark.length;
          continue;
        }
      }
      if (c === '[') {
        const rest = s.slice(i, i + 2400);
        const r = /^\[(\d{1,2})\]/.exec(rest);
        if (r) {
          flush();
          const n = ctx.refs ? ctx.refs[+r[1]] : +r[1];
          const sup = document.createElement('span');
          sup.className = 'ref';
          sup.textContent = '[' + (n || r[1]) + ']';
          parent.appendChild(sup);
          i += r[0].length;
          continue;
        }
        const l = /^\[([^\]\n]{1,300})\]\(\s*<?([^)\s>]{1,2048})>?\s*\)/.exec(rest);
        if (l) {
          flush();
          const href = ctx.linkify ? safeURL(l[2], true) : '';
          if (href) {
            const a = link(href);
            inline(a, l[1], { linkify: false, refs: ctx.refs }, depth + 1);
            parent.appendChild(a);
          } else {
            inline(parent, l[1], { linkify: false, refs: ctx.refs }, depth + 1);
          }
          i += l[0].length;
          continue;
        }
      }
      buf += c;
      i++;
    }
    flush();
  }
  // uniqueSources: each source once (by title, as listed); refs maps the reply's [n] to the
  // number of its source in that list.
  function uniqueSources(sources) {
    const list = [];
    const refs = {};
    const seen = new Map();
    (sources || []).forEach((s, i) => {
      const title = (s && (s.title || s.document_title)) || 'Source';
      if (!seen.has(title)) {
        list.push(title);
        seen.set(title, list.length);
      }
      refs[i + 1] = seen.get(title);
    });
    return { list: list, refs: refs };
  }

  function render(m) {
    if (!m.el) {
      m.el = document.createElement('li');
      m.textEl = document.createElement('div');
      m.textEl.className = 'text';
      m.el.appendChild(m.textEl);
      m.metaEl = document.createElement('span');
      m.metaEl.className = 'meta';
      m.el.appendChild(m.metaEl);
    }
    m.el.className = 'msg ' + m.role + (m.waiting ? ' waiting' : '') + (m.failed ? ' failed' : '');
    if (m.seq != null) m.el.setAttribute('data-seq', String(m.seq));
    m.el.setAttribute('data-id', m.id);
    // The person's own words as written; the coach's (and the creator's) as the safe Markdown
    // subset, [n] pointing into the sources listed below.
    const u = uniqueSources(m.sources);
    if (m.role === 'user') m.textEl.textContent = m.text;
    else renderMarkdown(m.textEl, m.text, true, u.refs);
    let meta = clock(m.at);
    if (m.waiting) meta = m.failed ? 'Not sent' : st.status === 'online' ? 'Sending…' : 'Waiting to send';
    m.metaEl.textContent = meta;
    const old = m.el.querySelector('.sources');
    if (old) old.remove();
    if (u.list.length) {
      const ol = document.createElement('ol');
      ol.className = 'sources';
      ol.setAttribute('aria-label', 'Sources');
      for (const title of u.list) {
        const li = document.createElement('li');
        li.textContent = title;
        ol.appendChild(li);
      }
      m.el.appendChild(ol);
    }
    return m.el;
  }
  // orderOf is where a message goes: its seq; for the person's own message acknowledged but not
  // yet seen with its seq, just after the last seq known when it was acknowledged; waiting
  // messages last, in the order written.
  function orderOf(m) {
    return m.seq != null ? m.seq : m.order != null ? m.order : Infinity;
  }
  // add places a message by seq (messages without one, the person's waiting ones, go last).
  function add(m, replace) {
    const stick = nearBottom();
    st.messages.set(m.id, m);
    const el = render(m);
    let i = st.list.length;
    while (i > 0 && orderOf(st.list[i - 1]) > orderOf(m)) i--;
    st.list.splice(i, 0, m);
    const next = st.list[i + 1];
    if (replace && replace.parentNode) replace.parentNode.removeChild(replace);
    log.insertBefore(el, next ? next.el : null);
    $('welcome').hidden = st.list.length > 0;
    if (stick || m.role === 'user') toBottom();
  }
  function updateBanner() {
    const waiting = st.list.filter((m) => m.waiting && !m.failed).length;
    const b = $('banner');
    if (waiting && st.status !== 'online') {
      b.textContent = (waiting === 1 ? '1 message is' : waiting + ' messages are') + ' waiting: they are sent when you are back online.';
      b.hidden = false;
    } else if (st.status !== 'online' && !navigator.onLine) {
      b.textContent = 'You are offline. Messages you write now are sent when you are back online.';
      b.hidden = false;
    } else {
      b.hidden = true;
    }
    for (const m of st.list) if (m.waiting) render(m);
  }
  function setStatus(s) {
    st.status = s;
    const el = $('status');
    el.setAttribute('data-state', s);
    el.textContent = s === 'online' ? 'Online' : s === 'connecting' ? 'Connecting…' : 'Offline';
    updateBanner();
  }

  // ---- session and socket -------------------------------------------------------------------------
  function identity() {
    const key = 'coachwire-app:' + slug;
    let id = {};
    try {
      id = JSON.parse(localStorage.getItem(key) || '{}');
    } catch (e) {
      id = {};
    }
    const q = new URLSearchParams(location.search);
    if (q.get('user_id') && q.get('user_hash')) {
      id.user_id = q.get('user_id');
      id.user_hash = q.get('user_hash');
      history.replaceState(null, '', base);
    }
    if (!id.anon_id) id.anon_id = uuid().replace(/-/g, '');
    try {
      localStorage.setItem(key, JSON.stringify(id));
    } catch (e) { /* private mode: this visit only */ }
    return id;
  }
  async function getSession() {
    const id = identity();
    const req = { slug: slug, anon_id: id.anon_id };
    if (id.user_id) {
      req.user_id = id.user_id;
      req.user_hash = id.user_hash;
    }
    const r = await fetch('/api/v1/app/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(req) });
    if (!r.ok) throw new Error('session ' + r.status);
    const s = await r.json();
    s.expires = Date.parse(s.expires_at) || Date.now() + 10 * 60000;
    st.session = s;
    if (st.conversation && st.conversation !== s.conversation_id) {
      // Another person on this device (a new identity): start from an empty conversation.
      for (const m of st.list) if (m.el) m.el.remove();
      st.list = [];
      st.messages.clear();
      st.lastSeq = 0;
    }
    st.conversation = s.conversation_id;
    coach(s.coach || {});
    tellWorker();
    return s;
  }
  function sessionValid() {
    return st.session && st.session.expires - Date.now() > 60000;
  }
  function coach(c) {
    if (c.name) $('name').textContent = c.name;
    $('welcome').textContent = c.welcome || 'Ask me anything.';
    if (c.avatar_url && /^https?:/.test(c.avatar_url)) $('avatar').src = c.avatar_url;
  }
  async function api(method, path, bodyObj) {
    if (!sessionValid()) await getSession();
    const h = { Authorization: 'Bearer ' + st.session.token };
    if (bodyObj) h['Content-Type'] = 'application/json';
    const r = await fetch(path, { method: method, headers: h, body: bodyObj ? JSON.stringify(bodyObj) : undefined });
    if (r.status === 401) st.session = null;
    if (!r.ok) throw new Error(method + ' ' + path + ': ' + r.status);
    return r.status === 204 ? null : r.json();
  }

  function scheduleReconnect() {
    if (reconnectTimer || !navigator.onLine) return;
    const cap = Math.min(30000, 1000 * Math.pow(2, attempts++));
    reconnectTimer = setTimeout(() => {
      reconnectTimer = 0;
      connect();
    }, cap / 2 + Math.random() * cap / 2);
  }
  // backgrounded: the page is alive but not shown (another app or tab in front) and has nothing
  // to send. The socket stays closed then, so the server pushes replies as notifications
  // instead of writing them to a page nobody sees (docs/app.md "Notifications").
  function backgrounded() {
    return document.visibilityState === 'hidden' && !st.outbox.length;
  }
  // disconnect closes the socket on purpose (page hidden or left): no reconnect until shown.
  function disconnect(reason) {
    const sock = ws;
    clearTimeout(reconnectTimer);
    reconnectTimer = 0;
    if (!sock) return;
    socketGone();
    sock.close(1000, reason);
  }
  async function connect() {
    if (backgrounded() || connecting) return;
    if (ws || !navigator.onLine) {
      if (!navigator.onLine) setStatus('offline');
      return;
    }
    setStatus('connecting');
    connecting = true;
    try {
      if (!sessionValid()) await getSession();
    } catch (e) {
      setStatus('offline');
      return scheduleReconnect();
    } finally {
      connecting = false;
    }
    if (ws || backgrounded()) {
      // Connected meanwhile, or hidden while waiting: no socket now.
      if (!ws) setStatus('offline');
      return;
    }
    const sock = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/widget/ws',
      [PROTOCOL, 'bearer.' + st.session.token]);
    ws = sock;
    let opened = false;
    sock.onopen = () => {
      opened = true;
      attempts = 0;
      st.ready = false;
      seenSent = 0;
      setStatus('online');
      sock.send(JSON.stringify({ type: 'resume', last_seq: st.lastSeq }));
    };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      for (const fr of Array.isArray(f) ? f : [f]) if (fr && typeof fr === 'object') frame(fr);
      // Hidden with the outbox now sent: the rest comes as notifications.
      if (ws === sock && st.ready && backgrounded()) disconnect('page hidden');
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      socketGone();
      if (!opened) st.session = null;
      scheduleReconnect();
    };
  }
  // socketGone forgets the socket: what was in flight is sent again (same id) on the next one.
  function socketGone() {
    ws = null;
    st.ready = false;
    st.inflight = null;
    clearTimeout(retryTimer);
    for (const d of st.drafts.values()) d.stale = true; // pieces will be missed: wait for a reset or the final message
    setStatus('offline');
  }
  function sendFrame(obj) {
    if (!ws || ws.readyState !== 1) return false;
    try {
      ws.send(JSON.stringify(obj));
      return true;
    } catch (e) {
      return false;
    }
  }

  function frame(f) {
    switch (f.type) {
      case 'ready':
        st.ready = true;
        pump();
        seen();
        break;
      case 'ack':
        onAck(String(f.id));
        break;
      case 'delta':
        onDelta(f);
        break;
      case 'message':
        onMessage(f);
        break;
      case 'error':
        onError(f);
        break;
    }
    publish();
  }

  function onDelta(f) {
    const key = String(f.turn || '');
    if (st.finished.has(key)) return;
    let d = st.drafts.get(key);
    if (f.reset) {
      if (d) {
        d.text = '';
        d.stale = false;
      }
    } else if (d && d.stale) {
      return;
    }
    if (!d) {
      if (!f.text && !f.reset) return;
      const li = document.createElement('li');
      li.className = 'msg draft';
      li.setAttribute('aria-busy', 'true');
      d = { key: key, el: li, text: '', stale: false };
      st.drafts.set(key, d);
      const stick = nearBottom();
      log.appendChild(li);
      if (stick) toBottom();
    }
    d.text += typeof f.text === 'string' ? f.text : '';
    const stick = nearBottom();
    renderMarkdown(d.el, d.text, true);
    if (stick) toBottom();
  }

  function onMessage(f) {
    const seq = typeof f.seq === 'number' ? f.seq : null;
    const own = f.client_id != null ? st.messages.get(String(f.client_id)) : null;
    if (own) {
      // Our own message, replayed: it is stored, so it leaves the outbox (never sent again).
      delivered(own, seq);
      if (seq != null && seq > st.lastSeq) st.lastSeq = seq;
      saveHistory();
      return;
    }
    if (f.client_id != null && f.role === 'user') {
      const out = st.outbox.find((o) => o.id === String(f.client_id));
      if (out) dropOutbox(out.id);
    }
    const id = String(f.id);
    if (st.messages.has(id) || (seq != null && seq <= st.lastSeq && st.list.some((m) => m.seq === seq))) return;
    if (seq != null && seq > st.lastSeq) st.lastSeq = seq;
    const role = f.role === 'user' ? 'user' : f.role === 'creator' ? 'creator' : 'assistant';
    const at = f.created_at ? Date.parse(f.created_at) : Date.now();
    const m = { id: id, seq: seq, role: role, text: String(f.text || ''), sources: Array.isArray(f.sources) ? f.sources : [], at: at || Date.now() };
    let d = st.drafts.get(id) || (f.reply_to ? st.drafts.get(String(f.reply_to)) : null);
    if (!d && role !== 'user' && st.drafts.size === 1) d = st.drafts.values().next().value;
    if (d) {
      st.drafts.delete(d.key);
      st.finished.add(d.key);
    }
    st.finished.add(id);
    add(m, d ? d.el : null);
    saveHistory();
    if (role !== 'user' && st.awaitReply) {
      clearTimeout(st.awaitReply);
      st.awaitReply = 0;
      pump();
    }
    seen();
  }

  function delivered(m, seq) {
    m.waiting = false;
    m.failed = false;
    if (m.seq == null && (seq != null || m.order == null)) {
      if (seq != null) m.seq = seq;
      else m.order = st.lastSeq + 0.5;
      // Placed again by its seq.
      st.list.splice(st.list.indexOf(m), 1);
      m.el.remove();
      add(m);
    }
    dropOutbox(m.id);
    render(m);
    updateBanner();
  }

  function onAck(id) {
    const m = st.messages.get(id);
    if (m) delivered(m, null);
    if (st.inflight === id) {
      st.inflight = null;
      clearTimeout(retryTimer);
      // The next message waits for this one's answer (or REPLY_WAIT_MS).
      st.awaitReply = setTimeout(() => {
        st.awaitReply = 0;
        pump();
      }, REPLY_WAIT_MS);
    }
  }

  function onError(f) {
    const id = f.id != null ? String(f.id) : null;
    if (f.code === 'retry' || f.code === 'rate_limited') {
      if (id && st.inflight === id) {
        st.inflight = null;
        clearTimeout(retryTimer);
        retryTimer = setTimeout(pump, f.code === 'retry' ? 1500 : 5000);
      }
      return;
    }
    if (id && st.inflight === id) {
      // Refused for good (bad text): it leaves the outbox, marked not sent.
      st.inflight = null;
      const m = st.messages.get(id);
      if (m) {
        m.failed = true;
        render(m);
      }
      dropOutbox(id);
      pump();
    }
  }

  function dropOutbox(id) {
    const i = st.outbox.findIndex((o) => o.id === id);
    if (i < 0) return;
    st.outbox.splice(i, 1);
    store('outbox', 'readwrite', (s) => s.delete(id));
  }

  // pump sends the oldest message of the outbox when the socket is ready and nothing is in
  // flight or waiting for its answer: once each, in order (a resend after a reconnect carries
  // the same id, which the server deduplicates).
  function pump() {
    if (!st.ready || st.inflight || st.awaitReply) return;
    const next = st.outbox[0];
    if (!next) return;
    if (sendFrame({ type: 'message', id: next.id, text: next.text })) {
      st.inflight = next.id;
      const m = st.messages.get(next.id);
      if (m) render(m);
    }
  }

  function send(text) {
    text = String(text || '').replace(/\r\n?/g, '\n').trim();
    if (!text) return null;
    const id = uuid();
    const o = { id: id, text: text, at: Date.now(), n: Date.now() * 1000 + st.outbox.length };
    st.outbox.push(o);
    store('outbox', 'readwrite', (s) => s.put(o));
    add({ id: id, seq: null, role: 'user', text: text, sources: [], at: o.at, waiting: true });
    updateBanner();
    if (!ws) connect();
    pump();
    publish();
    return id;
  }

  function seen() {
    if (document.visibilityState !== 'visible' || !st.ready) return;
    let max = 0;
    for (const m of st.list) if (m.role !== 'user' && m.seq > max) max = m.seq;
    if (max > seenSent && sendFrame({ type: 'seen', seq: max })) seenSent = max;
  }

  // ---- the other views --------------------------------------------------------------------------
  function showView(name) {
    for (const v of ['chat', 'plan', 'you']) {
      $('view-' + v).hidden = v !== name;
      if (v === name) $('tab-' + v).setAttribute('aria-current', 'page');
      else $('tab-' + v).removeAttribute('aria-current');
    }
    if (name === 'plan' || name === 'you') loadMe();
    if (name === 'you') {
      loadMemory();
      loadLinked();
    }
  }
  function li(text, small) {
    const el = document.createElement('li');
    el.textContent = text;
    if (small) {
      const s = document.createElement('span');
      s.className = 'small';
      s.textContent = ' ' + small;
      el.appendChild(s);
    }
    return el;
  }
  function when(iso) {
    try {
      return new Date(iso).toLocaleString([], { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
    } catch (e) {
      return iso;
    }
  }
  async function loadMe() {
    let me;
    try {
      me = await api('GET', '/api/v1/app/me');
    } catch (e) {
      return;
    }
    st.me = me;
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && me.timezone !== tz) {
      api('PATCH', '/api/v1/app/me', { timezone: tz }).then((m) => { st.me = m; }, () => {});
    }
    const progs = $('programs');
    progs.textContent = '';
    for (const p of me.programs) {
      progs.appendChild(li(p.name, p.status === 'completed' ? '· completed' : '· step ' + p.step + ' of ' + p.steps + (p.status !== 'active' ? ' · ' + p.status : '')));
    }
    if (!me.programs.length) progs.appendChild(li('You are not in a program yet.'));
    const up = $('upcoming');
    up.textContent = '';
    for (const u of me.upcoming) up.appendChild(li(when(u.at), '· ' + u.program + ', step ' + u.step));
    if (!me.upcoming.length) up.appendChild(li(me.opted_out ? 'Nothing: you sent STOP.' : 'Nothing scheduled.'));
    $('opt-state').textContent = me.opted_out ? 'You sent STOP: your coach writes only when you write first.' :
      'Your coach may write to you first (program steps, check-ins).';
    $('stop').disabled = me.opted_out;
    $('start').disabled = !me.opted_out;
    $('tz').textContent = 'Time zone: ' + (tz || me.timezone || 'unknown') + ' (quiet hours follow it).';
  }
  async function loadMemory() {
    const box = $('memory');
    let r;
    try {
      r = await api('GET', '/api/v1/app/memory');
    } catch (e) {
      return;
    }
    box.textContent = '';
    const names = { goals: 'Goals', preferences: 'Preferences', commitments: 'Commitments', facts: 'About you' };
    let any = false;
    for (const k of Object.keys(names)) {
      const items = (r.profile && r.profile[k]) || [];
      if (!items.length) continue;
      any = true;
      const h = document.createElement('h3');
      h.className = 'small';
      h.textContent = names[k];
      box.appendChild(h);
      const ul = document.createElement('ul');
      ul.className = 'mem-list';
      for (const it of items) ul.appendChild(li(it));
      box.appendChild(ul);
    }
    if (!any) {
      const p = document.createElement('p');
      p.textContent = 'Nothing yet.';
      box.appendChild(p);
    }
  }

  // ---- notifications: the push channel's subscription routes -----------------------------------
  function b64(s) {
    const pad = '='.repeat((4 - (s.length % 4)) % 4);
    const raw = atob((s + pad).replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }
  async function notifState() {
    const el = $('notif-state');
    const btn = $('notif-toggle');
    if (!st.sw || !('PushManager' in window)) {
      el.textContent = 'This browser cannot show notifications from the app. On an iPhone, add the app to your home screen first.';
      btn.hidden = true;
      return null;
    }
    const sub = await st.sw.pushManager.getSubscription().catch(() => null);
    el.textContent = sub ? 'Notifications are on on this device.' : 'Notifications are off on this device.';
    btn.textContent = sub ? 'Turn off notifications' : 'Turn on notifications';
    return sub;
  }
  async function toggleNotifications() {
    const sub = await notifState();
    try {
      if (sub) {
        await api('DELETE', '/api/v1/app/push/subscriptions', { endpoint: sub.endpoint }).catch(() => null);
        await sub.unsubscribe();
      } else {
        if ((await Notification.requestPermission()) !== 'granted') throw new Error('permission');
        const key = await api('GET', '/api/v1/app/push/key');
        const s = await st.sw.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64(key.public_key) });
        const j = s.toJSON();
        await api('POST', '/api/v1/app/push/subscriptions', { endpoint: j.endpoint, keys: j.keys, device: navigator.userAgent.slice(0, 120) });
      }
    } catch (e) {
      $('notif-state').textContent = 'Notifications could not be changed (' + e.message + ').';
      return;
    }
    notifState();
  }

  // loadLinked lists the chats linked to this person (other than the app), each with Unlink.
  async function loadLinked() {
    const ul = $('linked');
    let r;
    try {
      r = await api('GET', '/api/v1/app/link');
    } catch (e) {
      return;
    }
    ul.textContent = '';
    const names = { whatsapp: 'WhatsApp', telegram: 'Telegram', widget: 'Website chat' };
    for (const id of r.identities || []) {
      if (!names[id.channel] || id.end_user_id === (st.session && st.session.end_user_id)) continue;
      const item = li('Linked: ' + names[id.channel], id.handle || id.display_name || '');
      if (id.channel === 'whatsapp' || id.channel === 'telegram') {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'btn';
        b.textContent = 'Unlink ' + names[id.channel];
        b.addEventListener('click', () => api('DELETE', '/api/v1/app/link/' + id.channel).then(loadLinked, loadLinked));
        item.appendChild(document.createTextNode(' '));
        item.appendChild(b);
      }
      ul.appendChild(item);
    }
  }

  async function linkChats() {
    const out = $('link-out');
    out.textContent = '';
    let r;
    try {
      r = await api('POST', '/api/v1/app/link');
    } catch (e) {
      out.textContent = 'Linking is not available right now.';
      return;
    }
    const p = document.createElement('p');
    p.textContent = 'Send LINK ' + r.code + ' in your chat with this coach (until ' + when(r.expires_at) + ').';
    out.appendChild(p);
    for (const k of ['whatsapp_url', 'telegram_url']) {
      if (!r[k] || !/^https:/.test(r[k])) continue;
      const a = document.createElement('a');
      a.href = r[k];
      a.className = 'btn';
      a.rel = 'noopener';
      a.textContent = k === 'whatsapp_url' ? 'Open WhatsApp' : 'Open Telegram';
      out.appendChild(a);
    }
  }

  // ---- the service worker -----------------------------------------------------------------------
  function tellWorker() {
    if (navigator.serviceWorker && navigator.serviceWorker.controller && st.conversation) {
      navigator.serviceWorker.controller.postMessage({ type: 'conversation', conversation_id: st.conversation });
    }
  }
  function registerWorker() {
    if (!('serviceWorker' in navigator)) return;
    navigator.serviceWorker.register(base + 'sw.js', { scope: base }).then(() => navigator.serviceWorker.ready).then((reg) => {
      st.sw = reg;
      tellWorker();
      publish();
    }, () => {});
    navigator.serviceWorker.addEventListener('controllerchange', tellWorker);
    // A push the worker did not show because this window is looking at the conversation: the
    // message comes over the socket; if the socket is down, reconnect (the resume brings it).
    navigator.serviceWorker.addEventListener('message', (e) => {
      // A notification tapped while the app is open: the worker focuses it; show the chat.
      if (e.data && e.data.type === 'open-chat') {
        showView('chat');
        toBottom();
        if (!ws) connect();
        return;
      }
      if (!e.data || e.data.type !== 'push') return;
      st.pushesShownHere++;
      if (!ws) connect();
      publish();
    });
  }

  // ---- the keyboard: keep the composer above it ----------------------------------------------------
  function fitViewport() {
    const vv = window.visualViewport;
    if (!vv) return;
    document.documentElement.style.setProperty('--vvh', vv.height + 'px');
    $('app').style.top = vv.offsetTop + 'px';
    if (document.activeElement === input) toBottom();
  }

  // ---- test and debugging hook ------------------------------------------------------------------
  function publish() {
    window.coachwireApp.ready = true;
  }
  window.coachwireApp = {
    ready: false,
    send: send,
    state: () => ({
      status: st.status,
      ready: st.ready,
      lastSeq: st.lastSeq,
      conversation: st.conversation,
      outbox: st.outbox.map((o) => o.text),
      inflight: st.inflight,
      waiting: st.list.filter((m) => m.waiting).map((m) => m.text),
      worker: !!st.sw,
      controlled: !!(navigator.serviceWorker && navigator.serviceWorker.controller),
      pushesShownHere: st.pushesShownHere,
    }),
  };

  // ---- start ------------------------------------------------------------------------------------
  async function start() {
    const color = body.getAttribute('data-color');
    if (/^#[0-9a-f]{6}$/i.test(color || '')) {
      const n = parseInt(color.slice(1), 16);
      const lum = (c) => {
        c /= 255;
        return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
      };
      const l = 0.2126 * lum(n >> 16) + 0.7152 * lum((n >> 8) & 255) + 0.0722 * lum(n & 255);
      document.documentElement.style.setProperty('--a', color);
      document.documentElement.style.setProperty('--at', 1.05 / (l + 0.05) >= 4.5 ? '#fff' : '#111');
    }
    const h = await store('kv', 'readonly', (s) => s.get('history'));
    if (h && h.messages) {
      st.lastSeq = h.lastSeq || 0;
      st.conversation = h.conversation || null;
      for (const m of h.messages) add(m);
    }
    const out = (await store('outbox', 'readonly', (s) => s.getAll())) || [];
    out.sort((a, b) => a.n - b.n);
    for (const o of out) {
      st.outbox.push(o);
      if (!st.messages.has(o.id)) add({ id: o.id, seq: null, role: 'user', text: o.text, sources: [], at: o.at, waiting: true });
    }
    toBottom();
    updateBanner();
    publish();
    connect();
  }

  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    if (send(input.value)) input.value = '';
    input.style.height = '';
    input.focus();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('composer').requestSubmit();
    }
  });
  input.addEventListener('input', () => {
    input.style.height = '';
    input.style.height = Math.min(input.scrollHeight, 140) + 'px';
  });
  input.addEventListener('focus', () => setTimeout(fitViewport, 50));
  $('tab-chat').addEventListener('click', () => showView('chat'));
  $('tab-plan').addEventListener('click', () => showView('plan'));
  $('tab-you').addEventListener('click', () => {
    showView('you');
    notifState();
  });
  // STOP and START show the chat, where the answer comes; their own view is hidden, so focus
  // goes to the chat's tab (not lost to the page).
  $('stop').addEventListener('click', () => {
    send('STOP');
    showView('chat');
    $('tab-chat').focus();
  });
  $('start').addEventListener('click', () => {
    send('START');
    showView('chat');
    $('tab-chat').focus();
  });
  $('forget').addEventListener('click', async () => {
    if (!window.confirm('Erase everything your coach remembers about you? This cannot be undone.')) return;
    try {
      await api('DELETE', '/api/v1/app/memory');
    } catch (e) { /* shown as unchanged below */ }
    loadMemory();
  });
  $('notif-toggle').addEventListener('click', toggleNotifications);
  $('link').addEventListener('click', linkChats);
  window.addEventListener('online', () => {
    attempts = 0;
    updateBanner();
    connect();
  });
  window.addEventListener('offline', () => {
    if (ws) ws.close();
    setStatus('offline');
  });
  // Leaving the page (closed, or kept in the back-forward cache): the socket closes now, so the
  // server knows the app is not open and pushes the next reply as a notification.
  window.addEventListener('pagehide', () => disconnect('page hidden'));
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) connect();
  });
  // In the background the socket closes (once the outbox is sent); in front again it reconnects
  // and resumes.
  document.addEventListener('visibilitychange', () => {
    seen();
    if (document.visibilityState === 'visible') {
      if (!ws) connect();
    } else if (backgrounded()) {
      disconnect('page hidden');
    }
  });
  if (window.visualViewport) {
    window.visualViewport.addEventListener('resize', fitViewport);
    window.visualViewport.addEventListener('scroll', fitViewport);
  }
  registerWorker();
  start();
})();
