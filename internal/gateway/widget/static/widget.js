/*!
 * coachwire chat widget. Plain ES2018, no dependencies, no build step.
 *
 * Embed:
 *   <script src="https://GATEWAY/widget.js" data-widget-key="wk_..." async></script>
 * Optional attributes: data-user-id + data-user-hash (verified identity), data-title,
 * data-open="true", data-gateway-url (override the base URL derived from src).
 *
 * Everything is rendered inside an open shadow root on <div id="coachwire-widget">.
 * Server text is only ever written with textContent / text nodes. Quoted material (lines
 * starting with ">", e.g. document passages) is shown as a quote block and never linkified.
 * Test/automation API: window.coachwire = {open(), close(), toggle(), send(text), state()}.
 */
(function () {
  'use strict';

  var HOST_ID = 'coachwire-widget';
  if ((window.coachwire && window.coachwire.__coachwire) || document.getElementById(HOST_ID)) {
    return; // included twice
  }

  const PROTOCOL = 'coachwire.v1';
  const MAX_FRAME_BYTES = 16 * 1024 - 256; // server closes with 1009 above 16 KiB
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const CONNECT_TIMEOUT_MS = 15000;
  const STABLE_SOCKET_MS = 10000; // an open socket that lived this long resets the backoff
  const RESEND_AFTER_RATE_LIMIT_MS = 10500;
  // A message the server could not confirm (error code "retry") is resent with the same id,
  // with jittered exponential backoff; only after RETRY_GIVE_UP_MS is it shown as not sent.
  const RETRY_BASE_MS = 2000;
  const RETRY_MAX_MS = 15000;
  const RETRY_GIVE_UP_MS = 120000;
  const FLUSH_BATCH = 4; // the server allows 5 messages per 10 s
  const TYPING_TIMEOUT_MS = 30000;
  const DRAFT_ABANDON_MS = 120000;
  const MAX_HISTORY = 200;
  const SEEN_EVERY_MS = 1000; // at most one seen frame a second
  const AUTH_CLOSE_CODES = [1008, 4001, 4003, 4401, 4403];
  const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  // ---------------------------------------------------------------- configuration

  const script = findOwnScript();
  if (!script) {
    console.warn('coachwire: cannot find the widget <script> element');
    return;
  }
  const widgetKey = (script.getAttribute('data-widget-key') || '').trim();
  if (!widgetKey) {
    console.warn('coachwire: data-widget-key is missing on the widget <script> element');
    return;
  }
  const base = gatewayBase(script);
  if (!base) {
    console.warn('coachwire: cannot derive the gateway URL from the script src');
    return;
  }
  const wsURL = base.replace(/^http/, 'ws') + '/api/v1/widget/ws';
  const sessionURL = base + '/api/v1/widget/session';
  const userId = (script.getAttribute('data-user-id') || '').trim();
  const userHash = (script.getAttribute('data-user-hash') || '').trim();
  const title = (script.getAttribute('data-title') || '').trim() || 'Chat';
  const startOpen = (script.getAttribute('data-open') || '').trim().toLowerCase() === 'true';

  function findOwnScript() {
    if (document.currentScript) return document.currentScript;
    // Fallback (currentScript is null in callbacks): the last matching script tag.
    const list = document.querySelectorAll('script[data-widget-key]');
    for (let i = list.length - 1; i >= 0; i--) {
      if (/widget\.js(\?|#|$)/.test(list[i].src)) return list[i];
    }
    return list.length ? list[list.length - 1] : null;
  }

  function gatewayBase(el) {
    try {
      const override = (el.getAttribute('data-gateway-url') || '').trim();
      const u = new URL(override || el.src, document.baseURI);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') return '';
      if (override) return u.origin + u.pathname.replace(/\/+$/, '');
      return u.origin;
    } catch (e) {
      return '';
    }
  }

  // ---------------------------------------------------------------- storage

  function memoryStorage() {
    const m = new Map();
    return {
      getItem: (k) => (m.has(k) ? m.get(k) : null),
      setItem: (k, v) => { m.set(k, String(v)); },
      removeItem: (k) => { m.delete(k); },
    };
  }

  function storage(kind) {
    try {
      const s = window[kind];
      const probe = '__coachwire_probe__';
      s.setItem(probe, probe);
      s.removeItem(probe);
      return s;
    } catch (e) {
      return memoryStorage(); // disabled storage, sandboxed iframe, ...
    }
  }

  const local = storage('localStorage');
  const sess = storage('sessionStorage');
  const K_ANON = 'coachwire:' + widgetKey + ':anon';
  // seq counts the messages of one conversation (v2; before, one counter for the whole
  // platform): a tab's state from the old numbering is not read back.
  const K_SEQ = 'coachwire:' + widgetKey + ':v2:seq';
  const K_HISTORY = 'coachwire:' + widgetKey + ':v2:history';

  function safeSet(s, k, v) {
    try { s.setItem(k, v); } catch (e) { /* quota */ }
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      try { return window.crypto.randomUUID(); } catch (e) { /* insecure context */ }
    }
    const b = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(b);
    } else {
      for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => (x + 0x100).toString(16).slice(1)).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  let anonId = local.getItem(K_ANON);
  if (!anonId || !UUID_RE.test(anonId)) {
    anonId = uuid();
    safeSet(local, K_ANON, anonId);
  }

  // ---------------------------------------------------------------- state

  const st = {
    status: 'offline', // offline | connecting | online
    open: false,
    session: null, // {token, refreshAt, conversationId, endUserId} (memory only)
    conversationId: null,
    endUserId: null,
    lastSeq: 0,
    messages: new Map(), // id -> message, also indexed by server id
    drafts: new Map(), // String(turn) -> {turn, el, textEl, text, stale, touched}
    finishedTurns: new Set(),
    typing: false,
    error: null, // {text, code, source}
    unread: 0,
  };

  let ws = null;
  let wsOpenedAt = 0;
  let connecting = false;
  let wanted = false; // whether we want a live socket
  let attempts = 0;
  let reconnectTimer = 0;
  let refreshTimer = 0;
  let resendTimer = 0;
  let typingTimer = 0;
  let sessionPromise = null;
  let seenSent = 0; // highest seq reported seen on the current socket
  let seenAt = 0;
  let seenTimer = 0;

  // ---------------------------------------------------------------- DOM

  const CSS = [
    ':host{all:initial;}',
    '*,*::before,*::after{box-sizing:border-box;}',
    '[hidden]{display:none !important;}',
    '.cw-root{--cw-accent-default:#2f6feb;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;}',
    '.cw-bubble{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;padding:0;margin:0;',
    'background:var(--cw-accent,var(--cw-accent-default));color:#fff;cursor:pointer;display:flex;align-items:center;justify-content:center;',
    'box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000;transition:transform .15s ease;}',
    '.cw-bubble:hover{transform:scale(1.05);}',
    '.cw-bubble:focus-visible,.cw-send:focus-visible,.cw-close:focus-visible,.cw-error-close:focus-visible{outline:3px solid #9ec5ff;outline-offset:2px;}',
    '.cw-bubble svg{width:26px;height:26px;}',
    '.cw-unread{position:absolute;top:-3px;right:-3px;min-width:20px;height:20px;border-radius:10px;background:#d1242f;color:#fff;',
    'font-size:12px;font-weight:600;line-height:20px;padding:0 6px;text-align:center;}',
    '.cw-panel{position:fixed;right:20px;bottom:88px;width:min(380px,calc(100vw - 24px));height:min(580px,calc(100vh - 112px));',
    'background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.22);display:flex;flex-direction:column;overflow:hidden;z-index:2147483000;}',
    '@media (max-width:480px){.cw-panel{left:8px;right:8px;width:auto;bottom:84px;height:calc(100vh - 100px);}}',
    '.cw-header{display:flex;align-items:center;gap:8px;padding:12px 12px 12px 16px;background:var(--cw-accent,var(--cw-accent-default));color:#fff;}',
    '.cw-heading{flex:1;min-width:0;display:flex;flex-direction:column;}',
    '.cw-title{margin:0;font-size:15px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;}',
    '.cw-status{font-size:12px;opacity:.9;}',
    '.cw-status::before{content:"";display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:6px;background:#8c959f;vertical-align:0;}',
    '.cw-status[data-state="online"]::before{background:#3fb950;}',
    '.cw-status[data-state="connecting"]::before{background:#d29922;}',
    '.cw-close,.cw-error-close{border:0;background:transparent;color:inherit;cursor:pointer;padding:4px;border-radius:6px;display:flex;}',
    '.cw-close svg{width:20px;height:20px;}',
    '.cw-error-close svg{width:14px;height:14px;}',
    '.cw-log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f8fa;}',
    '.cw-log:focus-visible{outline:2px solid #9ec5ff;outline-offset:-2px;}',
    '.cw-empty{margin:auto;color:#57606a;text-align:center;padding:0 24px;}',
    '.cw-msg{max-width:85%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;}',
    '.cw-user{align-self:flex-end;background:var(--cw-accent,var(--cw-accent-default));color:#fff;border-bottom-right-radius:4px;}',
    '.cw-assistant,.cw-creator,.cw-draft{align-self:flex-start;background:#fff;border:1px solid #e1e4e8;border-bottom-left-radius:4px;}',
    '.cw-creator{border-color:#f0b429;}',
    '.cw-pending{opacity:.7;}',
    '.cw-failed{outline:1px dashed #d1242f;}',
    '.cw-text a{color:inherit;text-decoration:underline;}',
    '.cw-quote{display:block;margin:4px 0;padding:2px 0 2px 10px;border-left:3px solid #d0d7de;color:#424a53;}',
    '.cw-retry{display:block;margin:6px 0 0 auto;border:0;border-radius:6px;padding:2px 8px;font:inherit;font-size:12px;background:#fff;color:#82071e;cursor:pointer;}',
    '.cw-retry:focus-visible{outline:3px solid #9ec5ff;outline-offset:2px;}',
    '.cw-draft .cw-text::after{content:"\\258D";margin-left:1px;animation:cw-blink 1s steps(1) infinite;}',
    '@keyframes cw-blink{50%{opacity:0;}}',
    '.cw-sources{list-style:none;margin:8px 0 0;padding:8px 0 0;border-top:1px solid #eaeef2;display:flex;flex-direction:column;gap:6px;white-space:normal;font-size:12px;}',
    '.cw-source-title{font-weight:600;}',
    '.cw-source-loc{color:#57606a;}',
    '.cw-source-loc::before{content:" \\00B7  ";}',
    '.cw-source-snippet{margin:2px 0 0;color:#57606a;display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden;}',
    '.cw-typing{display:flex;gap:4px;padding:0 16px 8px;background:#f6f8fa;}',
    '.cw-typing span{width:6px;height:6px;border-radius:50%;background:#8c959f;animation:cw-bounce 1.2s infinite ease-in-out;}',
    '.cw-typing span:nth-child(2){animation-delay:.15s;}',
    '.cw-typing span:nth-child(3){animation-delay:.3s;}',
    '@keyframes cw-bounce{0%,80%,100%{transform:translateY(0);opacity:.5;}40%{transform:translateY(-4px);opacity:1;}}',
    '.cw-error{display:flex;align-items:flex-start;gap:6px;margin:0;padding:8px 10px 8px 14px;background:#ffebe9;color:#82071e;font-size:13px;border-top:1px solid #ffcecb;}',
    '.cw-error-text{flex:1;}',
    '.cw-form{display:flex;align-items:flex-end;gap:8px;padding:10px;border-top:1px solid #eaeef2;background:#fff;margin:0;}',
    '.cw-input{flex:1;resize:none;font:inherit;color:inherit;padding:8px 10px;border:1px solid #d0d7de;border-radius:10px;min-height:38px;max-height:120px;background:#fff;margin:0;}',
    '.cw-input:focus{outline:none;border-color:var(--cw-accent,var(--cw-accent-default));box-shadow:0 0 0 3px rgba(47,111,235,.2);}',
    '.cw-send{flex:none;width:38px;height:38px;border:0;border-radius:10px;background:var(--cw-accent,var(--cw-accent-default));color:#fff;cursor:pointer;display:flex;align-items:center;justify-content:center;padding:0;}',
    '.cw-send svg{width:18px;height:18px;}',
    '.cw-sr{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0;}',
    '@media (prefers-reduced-motion:reduce){.cw-bubble,.cw-typing span,.cw-draft .cw-text::after{animation:none;transition:none;}}',
  ].join('');

  const ICON_CHAT = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.4A8 8 0 1 1 21 12z"/></svg>';
  const ICON_CLOSE = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" aria-hidden="true" focusable="false"><path d="M6 6l12 12M18 6L6 18"/></svg>';
  const ICON_SEND = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false"><path d="M22 2L11 13M22 2l-7 20-4-9-9-4 20-7z"/></svg>';

  // Static markup only (no server or page data): text is filled in with textContent below.
  const TEMPLATE =
    '<div class="cw-root">' +
    '<button type="button" class="cw-bubble" id="cw-bubble" aria-label="Open chat" aria-haspopup="dialog" aria-expanded="false" aria-controls="cw-panel">' +
    ICON_CHAT + '<span class="cw-unread" id="cw-unread" aria-hidden="true" hidden></span></button>' +
    '<section class="cw-panel" id="cw-panel" role="dialog" aria-modal="false" aria-labelledby="cw-title" hidden>' +
    '<header class="cw-header"><div class="cw-heading"><h2 class="cw-title" id="cw-title"></h2>' +
    '<span class="cw-status" id="cw-status" data-state="offline">offline</span></div>' +
    '<button type="button" class="cw-close" id="cw-close" aria-label="Close chat">' + ICON_CLOSE + '</button></header>' +
    '<div class="cw-log" id="cw-log" role="log" aria-live="polite" aria-relevant="additions" aria-label="Conversation" tabindex="0"></div>' +
    '<p class="cw-empty" id="cw-empty">Ask a question to get started.</p>' +
    '<div class="cw-typing" id="cw-typing" role="status" aria-label="Assistant is typing" hidden><span></span><span></span><span></span></div>' +
    '<div class="cw-error" id="cw-error" role="alert" hidden><span class="cw-error-text" id="cw-error-text"></span>' +
    '<button type="button" class="cw-error-close" id="cw-error-close" aria-label="Dismiss error">' + ICON_CLOSE + '</button></div>' +
    '<form class="cw-form" id="cw-form" novalidate>' +
    '<textarea class="cw-input" id="cw-input" rows="1" aria-label="Message" placeholder="Type your message\u2026" autocomplete="off"></textarea>' +
    '<button type="submit" class="cw-send" id="cw-send" aria-label="Send message">' + ICON_SEND + '</button>' +
    '</form></section></div>';

  const host = document.createElement('div');
  host.id = HOST_ID;
  // Keep the host itself out of the page's layout; children are position:fixed.
  host.style.setProperty('all', 'initial', 'important');
  host.style.setProperty('position', 'static', 'important');
  host.style.setProperty('display', 'block', 'important');
  const root = host.attachShadow({ mode: 'open' });

  // Constructable stylesheets are not blocked by a host page CSP without 'unsafe-inline'.
  let styled = false;
  try {
    if ('adoptedStyleSheets' in root && typeof CSSStyleSheet === 'function') {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
      styled = true;
    }
  } catch (e) { /* fall back to <style> */ }
  if (!styled) {
    const style = document.createElement('style');
    style.textContent = CSS;
    root.appendChild(style);
  }
  const tpl = document.createElement('template');
  tpl.innerHTML = TEMPLATE;
  root.appendChild(tpl.content);

  const $ = (id) => root.getElementById(id);
  const bubble = $('cw-bubble');
  const unreadEl = $('cw-unread');
  const panel = $('cw-panel');
  const titleEl = $('cw-title');
  const statusEl = $('cw-status');
  const closeBtn = $('cw-close');
  const log = $('cw-log');
  const emptyEl = $('cw-empty');
  const typingEl = $('cw-typing');
  const errorEl = $('cw-error');
  const errorText = $('cw-error-text');
  const errorClose = $('cw-error-close');
  const form = $('cw-form');
  const input = $('cw-input');

  titleEl.textContent = title;

  // ---------------------------------------------------------------- rendering

  const ROLE_CLASS = { user: 'cw-user', assistant: 'cw-assistant', creator: 'cw-creator' };
  const ROLE_LABEL = { user: 'You: ', assistant: 'Assistant: ', creator: 'Coach: ' };
  const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/g;

  function roleOf(r) {
    return r === 'user' || r === 'creator' ? r : 'assistant';
  }

  const QUOTE_RE = /^>[ \t]?/;
  const CITE_RE = /^\[\d+\] /;

  // Fills el with a coach message: lines starting with ">" are quoted material (a document
  // passage) and go into a quote block as plain text, never linkified; a "[n] ..." line that
  // introduces a quote is its citation label (the sources list below is the structured citation)
  // and is plain text too; everything else is the coach's own text, linkified by fillText.
  function fillMessage(el, text, linkify) {
    el.textContent = '';
    const lines = text.split('\n');
    let run = [];
    const flush = () => {
      if (!run.length) return;
      const span = document.createElement('span');
      fillText(span, run.join('\n'), linkify);
      el.appendChild(span);
      run = [];
    };
    for (let i = 0; i < lines.length; i++) {
      if (QUOTE_RE.test(lines[i])) {
        const quoted = [];
        while (i < lines.length && QUOTE_RE.test(lines[i])) quoted.push(lines[i++].replace(QUOTE_RE, ''));
        i--;
        if (run.length && run[run.length - 1] === '') run.pop(); // the block breaks the line
        flush();
        const q = document.createElement('blockquote');
        q.className = 'cw-quote';
        q.textContent = quoted.join('\n');
        el.appendChild(q);
        if (i + 1 < lines.length && lines[i + 1] === '') i++; // likewise after it
        continue;
      }
      if (CITE_RE.test(lines[i]) && i + 1 < lines.length && QUOTE_RE.test(lines[i + 1])) {
        flush();
        const c = document.createElement('span');
        c.className = 'cw-cite';
        c.textContent = lines[i];
        el.appendChild(c);
        continue;
      }
      run.push(lines[i]);
    }
    flush();
  }

  // Fills el with text, turning http(s) URLs into links. Text nodes only, never innerHTML.
  function fillText(el, text, linkify) {
    el.textContent = '';
    if (!linkify) {
      el.textContent = text;
      return;
    }
    let last = 0;
    text.replace(URL_RE, (match, offset) => {
      let url = match;
      const trail = /[).,;:!?\]]+$/.exec(url);
      if (trail) url = url.slice(0, url.length - trail[0].length);
      if (offset > last) el.appendChild(document.createTextNode(text.slice(last, offset)));
      let href = '';
      try {
        const u = new URL(url);
        if (u.protocol === 'http:' || u.protocol === 'https:') href = u.href;
      } catch (e) { /* not a URL */ }
      if (href) {
        const a = document.createElement('a');
        a.href = href;
        a.target = '_blank';
        a.rel = 'noopener noreferrer nofollow';
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

  function normSources(list) {
    if (!Array.isArray(list)) return [];
    const out = [];
    for (const s of list) {
      if (!s || typeof s !== 'object') continue;
      const str = (v) => (v == null ? '' : String(v));
      out.push({
        title: str(s.title),
        heading: str(s.heading),
        page: s.page == null || s.page === '' || s.page === 0 ? null : s.page,
        snippet: str(s.snippet != null ? s.snippet : s.text),
        document_id: str(s.document_id),
      });
    }
    return out;
  }

  function renderSources(sources) {
    const ul = document.createElement('ul');
    ul.className = 'cw-sources';
    ul.setAttribute('aria-label', 'Sources');
    for (const s of sources) {
      const li = document.createElement('li');
      li.className = 'cw-source';
      if (s.document_id) li.setAttribute('data-document-id', s.document_id);
      const t = document.createElement('span');
      t.className = 'cw-source-title';
      t.textContent = s.title || 'Untitled document';
      li.appendChild(t);
      const loc = [];
      if (s.heading) loc.push(s.heading);
      if (s.page != null) loc.push('p. ' + s.page);
      if (loc.length) {
        const l = document.createElement('span');
        l.className = 'cw-source-loc';
        l.textContent = loc.join(', ');
        li.appendChild(l);
      }
      if (s.snippet) {
        const p = document.createElement('p');
        p.className = 'cw-source-snippet';
        p.textContent = s.snippet.length > 400 ? s.snippet.slice(0, 400) + '\u2026' : s.snippet;
        li.appendChild(p);
      }
      ul.appendChild(li);
    }
    return ul;
  }

  function messageElement(m) {
    const el = document.createElement('div');
    el.className = 'cw-msg ' + ROLE_CLASS[m.role] + (m.pending ? ' cw-pending' : '');
    el.setAttribute('data-id', m.id);
    if (m.seq != null) el.setAttribute('data-seq', String(m.seq));
    const who = document.createElement('span');
    who.className = 'cw-who cw-sr';
    who.textContent = ROLE_LABEL[m.role];
    el.appendChild(who);
    const text = document.createElement('div');
    text.className = 'cw-text';
    if (m.role === 'user') fillText(text, m.text, false);
    else fillMessage(text, m.text, true);
    el.appendChild(text);
    if (m.sources.length) el.appendChild(renderSources(m.sources));
    m.el = el;
    if (m.failed) showNotSent(m);
    return el;
  }

  // Marks a message the server never confirmed, with a button to try again.
  function showNotSent(m) {
    if (!m.el) return;
    m.el.classList.add('cw-failed');
    if (m.el.querySelector('.cw-retry')) return;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'cw-retry';
    b.textContent = 'Not sent \u2014 retry';
    b.addEventListener('click', () => retryNow(m));
    m.el.appendChild(b);
  }

  function clearNotSent(m) {
    m.failed = false;
    if (!m.el) return;
    m.el.classList.remove('cw-failed');
    const b = m.el.querySelector('.cw-retry');
    if (b) b.parentNode.removeChild(b);
  }

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollToBottom() {
    log.scrollTop = log.scrollHeight;
  }

  // Places a sequenced element before the first rendered message with a larger seq.
  function insertBySeq(el, seq) {
    if (seq != null) {
      for (const child of log.children) {
        const s = child.getAttribute('data-seq');
        if (s != null && Number(s) > seq) {
          log.insertBefore(el, child);
          return;
        }
      }
    }
    log.appendChild(el);
  }

  function updateEmpty() {
    emptyEl.hidden = log.children.length > 0;
  }

  function setStatus(s) {
    if (st.status === s) return;
    st.status = s;
    statusEl.textContent = s;
    statusEl.setAttribute('data-state', s);
    notify();
  }

  function showError(text, code, source) {
    st.error = { text: text, code: code || '', source: source || 'server' };
    errorText.textContent = text;
    errorEl.setAttribute('data-code', code || '');
    errorEl.hidden = false;
    notify();
  }

  function clearError(source) {
    if (!st.error) return;
    if (source && st.error.source !== source) return;
    st.error = null;
    errorText.textContent = '';
    errorEl.removeAttribute('data-code');
    errorEl.hidden = true;
    notify();
  }

  function setTyping(on) {
    clearTimeout(typingTimer);
    typingTimer = 0;
    st.typing = !!on;
    typingEl.hidden = !on;
    if (on) {
      typingTimer = setTimeout(() => setTyping(false), TYPING_TIMEOUT_MS);
      if (nearBottom()) scrollToBottom();
    }
  }

  function setUnread(n) {
    st.unread = n;
    unreadEl.hidden = n === 0;
    unreadEl.textContent = n > 9 ? '9+' : String(n);
    bubble.setAttribute('aria-label', st.open ? 'Close chat' : n ? 'Open chat, ' + n + ' new' : 'Open chat');
  }

  function notify() {
    try {
      host.dispatchEvent(new CustomEvent('coachwire:change'));
    } catch (e) { /* ignore */ }
  }

  // ---------------------------------------------------------------- history

  function addMessage(m, opts) {
    const stick = nearBottom() || (opts && opts.scroll);
    const el = messageElement(m);
    if (opts && opts.replace) {
      log.replaceChild(el, opts.replace);
    } else {
      insertBySeq(el, m.seq);
    }
    st.messages.set(m.id, m);
    if (m.serverId) st.messages.set(m.serverId, m);
    updateEmpty();
    if (stick) scrollToBottom();
  }

  function orderedMessages() {
    const out = [];
    for (const child of log.children) {
      if (!child.classList.contains('cw-msg') || child.classList.contains('cw-draft')) continue;
      const m = st.messages.get(child.getAttribute('data-id'));
      if (m) out.push(m);
    }
    return out;
  }

  function persist() {
    const list = orderedMessages().slice(-MAX_HISTORY).map((m) => ({
      id: m.id,
      server_id: m.serverId || undefined,
      seq: m.seq,
      role: m.role,
      text: m.text,
      sources: m.sources.length ? m.sources : undefined,
      reply_to: m.replyTo == null ? undefined : m.replyTo,
      pending: m.pending || undefined,
    }));
    safeSet(sess, K_SEQ, String(st.lastSeq));
    safeSet(sess, K_HISTORY, JSON.stringify({ conversation_id: st.conversationId, messages: list }));
  }

  function restore() {
    const seq = parseInt(sess.getItem(K_SEQ) || '0', 10);
    if (seq > 0) st.lastSeq = seq;
    let h = null;
    try {
      h = JSON.parse(sess.getItem(K_HISTORY) || 'null');
    } catch (e) {
      h = null;
    }
    if (!h || !Array.isArray(h.messages)) return;
    st.conversationId = typeof h.conversation_id === 'string' ? h.conversation_id : null;
    for (const r of h.messages) {
      if (!r || typeof r.id !== 'string' || typeof r.text !== 'string') continue;
      if (st.messages.has(r.id)) continue;
      addMessage({
        id: r.id,
        serverId: typeof r.server_id === 'string' ? r.server_id : null,
        seq: toSeq(r.seq),
        role: roleOf(r.role),
        text: r.text,
        sources: normSources(r.sources),
        replyTo: r.reply_to == null ? null : r.reply_to,
        pending: r.role === 'user' && !!r.pending,
        el: null,
      });
    }
  }

  // Called when the server hands out a different conversation than the stored one.
  function resetConversation() {
    const keep = orderedMessages().filter((m) => m.pending);
    log.textContent = '';
    st.messages.clear();
    st.drafts.clear();
    st.finishedTurns.clear();
    st.lastSeq = 0;
    for (const m of keep) addMessage(m);
    updateEmpty();
    persist();
  }

  function toSeq(v) {
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    return typeof n === 'number' && isFinite(n) ? n : null;
  }

  // ---------------------------------------------------------------- session

  function httpError(status, message) {
    const e = new Error(message || 'HTTP ' + status);
    e.status = status;
    e.serverMessage = message || '';
    return e;
  }

  function parseExpiry(v) {
    let t = NaN;
    if (typeof v === 'number') t = v < 1e12 ? v * 1000 : v;
    else if (typeof v === 'string') t = /^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v);
    return t;
  }

  async function fetchSession() {
    const body = { widget_key: widgetKey, anon_id: anonId };
    if (userId) {
      body.user_id = userId;
      if (userHash) body.user_hash = userHash;
    }
    const res = await fetch(sessionURL, {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) {
      let msg = '';
      try {
        const j = await res.json();
        msg = (j && (j.message || j.error)) || '';
        if (typeof msg !== 'string') msg = '';
      } catch (e) { /* not JSON */ }
      throw httpError(res.status, msg);
    }
    const j = await res.json();
    if (!j || typeof j.token !== 'string' || !j.token) throw new Error('invalid session response');
    const now = Date.now();
    let ttl = parseExpiry(j.expires_at) - now;
    if (!(ttl > 0)) ttl = 5 * 60 * 1000; // unknown or clock skew: assume a short life
    const refreshIn = Math.max(5000, Math.min(ttl - 60000, ttl * 0.8));
    st.session = {
      token: j.token,
      refreshAt: now + refreshIn,
      conversationId: j.conversation_id == null ? null : String(j.conversation_id),
      endUserId: j.end_user_id == null ? null : String(j.end_user_id),
    };
    st.endUserId = st.session.endUserId;
    if (st.session.conversationId) {
      if (st.conversationId && st.conversationId !== st.session.conversationId) resetConversation();
      st.conversationId = st.session.conversationId;
      persist();
    }
    clearError('session');
    scheduleRefresh(refreshIn);
    notify();
    return st.session;
  }

  function getSession() {
    if (!sessionPromise) {
      sessionPromise = fetchSession().finally(() => {
        sessionPromise = null;
      });
    }
    return sessionPromise;
  }

  function sessionValid() {
    return !!(st.session && Date.now() < st.session.refreshAt);
  }

  function scheduleRefresh(ms) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      refreshTimer = 0;
      if (!wanted) return;
      // Only the socket upgrade needs the token; keep a fresh one for the next reconnect.
      getSession().catch(() => { /* the next connect attempt retries */ });
    }, ms);
  }

  function sessionErrorText(e) {
    if (e && e.serverMessage) return e.serverMessage;
    const s = e && e.status;
    if (s === 401 || s === 403) return 'This chat is not available on this site.';
    if (s === 404) return 'This chat could not be found.';
    if (s === 429) return 'Too many attempts. Retrying shortly\u2026';
    return 'Cannot reach the chat service. Retrying\u2026';
  }

  // ---------------------------------------------------------------- socket

  function ensureConnected() {
    wanted = true;
    if (ws || connecting || reconnectTimer) return;
    connect();
  }

  function connectNow() {
    if (!wanted || ws || connecting) return;
    clearTimeout(reconnectTimer);
    reconnectTimer = 0;
    connect();
  }

  function scheduleReconnect() {
    if (!wanted || reconnectTimer || ws || connecting) return;
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, attempts));
    attempts = Math.min(attempts + 1, 30);
    const delay = cap / 2 + Math.random() * (cap / 2);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = 0;
      connect();
    }, delay);
  }

  async function connect() {
    if (ws || connecting) return;
    connecting = true;
    setStatus('connecting');
    try {
      if (!sessionValid()) await getSession();
    } catch (e) {
      connecting = false;
      showError(sessionErrorText(e), e && e.status ? 'session_' + e.status : 'session', 'session');
      setStatus('offline');
      scheduleReconnect();
      return;
    }
    let sock;
    try {
      sock = new WebSocket(wsURL, [PROTOCOL, 'bearer.' + st.session.token]);
    } catch (e) {
      connecting = false;
      st.session = null;
      setStatus('offline');
      scheduleReconnect();
      return;
    }
    connecting = false;
    ws = sock;
    let opened = false;
    const openTimer = setTimeout(() => {
      if (!opened && ws === sock) sock.close();
    }, CONNECT_TIMEOUT_MS);

    sock.onopen = () => {
      if (ws !== sock) return;
      opened = true;
      clearTimeout(openTimer);
      wsOpenedAt = Date.now();
      setStatus('online');
      clearError('connection');
      seenSent = 0; // a new socket: report again what is shown
      sendFrame({ type: 'resume', last_seq: st.lastSeq });
      flushPending();
      reportSeen();
    };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      handleData(ev.data);
    };
    sock.onerror = () => { /* a close event follows */ };
    sock.onclose = (ev) => {
      clearTimeout(openTimer);
      if (ws !== sock) return;
      ws = null;
      clearTimeout(resendTimer);
      resendTimer = 0;
      clearTimeout(seenTimer);
      seenTimer = 0;
      setTyping(false);
      for (const m of pendingMessages()) stopRetry(m); // the new socket resends every pending message
      for (const d of st.drafts.values()) d.stale = true; // deltas were lost; wait for reset or final
      // Refused upgrade (or auth close): the token may be expired or revoked, get a new one.
      if (!opened || AUTH_CLOSE_CODES.indexOf(ev.code) >= 0 || !sessionValid()) st.session = null;
      if (opened && Date.now() - wsOpenedAt >= STABLE_SOCKET_MS) attempts = 0;
      if (ev.code === 1009) showError('Your message was too large to send.', 'too_large', 'connection');
      setStatus('offline');
      scheduleReconnect();
    };
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

  // Highest seq of a coach (assistant or creator) message the widget shows.
  function shownSeq() {
    let max = 0;
    for (const m of orderedMessages()) {
      if (m.role !== 'user' && m.seq != null && m.seq > max) max = m.seq;
    }
    return max;
  }

  // Tells the server what the person has seen (their messages become read): the highest seq
  // shown while the panel is open and the page visible, only when it grows, at most once a
  // second.
  function reportSeen() {
    if (seenTimer || !st.open || document.visibilityState !== 'visible' || !ws || ws.readyState !== 1) return;
    const seq = shownSeq();
    if (seq <= seenSent) return;
    const wait = seenAt + SEEN_EVERY_MS - Date.now();
    if (wait > 0) {
      seenTimer = setTimeout(() => {
        seenTimer = 0;
        reportSeen();
      }, wait);
      return;
    }
    if (sendFrame({ type: 'seen', seq: seq })) {
      seenSent = seq;
      seenAt = Date.now();
    }
  }

  function pendingMessages() {
    return orderedMessages().filter((m) => m.pending);
  }

  // (Re)sends unacked messages with their original ids; the server dedupes by id.
  function flushPending() {
    clearTimeout(resendTimer);
    resendTimer = 0;
    const list = pendingMessages();
    let sent = 0;
    for (const m of list) {
      if (sent >= FLUSH_BATCH) {
        scheduleResend(RESEND_AFTER_RATE_LIMIT_MS);
        break;
      }
      if (!sendFrame({ type: 'message', id: m.id, text: m.text })) break;
      if (m.sentAt) m.resends = (m.resends || 0) + 1;
      m.sentAt = Date.now();
      sent++;
    }
  }

  // The server could not confirm a message (JetStream did not answer in time; it may well have
  // stored it). Resend it with the same id — the server deduplicates by id — with jittered
  // exponential backoff; only after RETRY_GIVE_UP_MS is it shown as not sent, with a retry button.
  function onNotConfirmed(m) {
    if (!m.pending) return;
    const now = Date.now();
    if (!m.firstTry) m.firstTry = m.sentAt || now;
    stopRetry(m);
    if (now - m.firstTry >= RETRY_GIVE_UP_MS) {
      m.failed = true;
      showNotSent(m);
      showError(ERROR_TEXT.not_sent, 'not_sent', 'server');
      return;
    }
    const cap = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * Math.pow(2, m.retries || 0));
    m.retries = (m.retries || 0) + 1;
    m.retryTimer = setTimeout(() => {
      m.retryTimer = 0;
      resendOne(m);
    }, cap / 2 + Math.random() * (cap / 2));
  }

  function stopRetry(m) {
    clearTimeout(m.retryTimer);
    m.retryTimer = 0;
  }

  function resendOne(m) {
    if (!m.pending) return;
    if (sendFrame({ type: 'message', id: m.id, text: m.text })) {
      m.sentAt = Date.now();
      m.resends = (m.resends || 0) + 1;
    }
    notify();
  }

  // The person asked to try a message that was not sent again: a fresh round of resends.
  function retryNow(m) {
    if (!m.pending) return;
    clearNotSent(m);
    m.firstTry = 0;
    m.retries = 0;
    if (st.error && st.error.code === 'not_sent') clearError();
    ensureConnected();
    resendOne(m);
  }

  function scheduleResend(ms) {
    if (resendTimer) return;
    resendTimer = setTimeout(() => {
      resendTimer = 0;
      if (ws && ws.readyState === 1) flushPending();
    }, ms);
  }

  // ---------------------------------------------------------------- frames

  function handleData(data) {
    if (typeof data !== 'string') return;
    let f;
    try {
      f = JSON.parse(data);
    } catch (e) {
      return;
    }
    const frames = Array.isArray(f) ? f : [f];
    let changed = false;
    for (const fr of frames) {
      if (fr && typeof fr === 'object' && handleFrame(fr)) changed = true;
    }
    if (changed) {
      persist();
      reportSeen();
    }
    notify();
  }

  // Returns true when persisted state changed.
  function handleFrame(f) {
    switch (f.type) {
      case 'ack':
        return onAck(f);
      case 'delta':
        onDelta(f);
        return false;
      case 'message':
        return onMessage(f);
      case 'error':
        onError(f);
        return false;
      case 'typing':
        setTyping(!(f.active === false || f.typing === false || f.state === 'stop'));
        return false;
      default:
        return false;
    }
  }

  function markAcked(m) {
    if (!m.pending) return;
    m.pending = false;
    stopRetry(m);
    clearNotSent(m);
    if (m.el) m.el.classList.remove('cw-pending', 'cw-failed');
    if (st.error && st.error.code === 'not_sent' && !pendingMessages().some((x) => x.failed)) clearError();
  }

  function onAck(f) {
    if (f.id == null) return false;
    const m = st.messages.get(String(f.id));
    if (!m) return false;
    markAcked(m);
    // Do not advance lastSeq from an ack: a lower seq may still be in flight.
    const seq = toSeq(f.seq);
    if (seq != null && m.seq == null) {
      m.seq = seq;
      if (m.el) m.el.setAttribute('data-seq', String(seq));
    }
    return true;
  }

  function newDraft(key, turn) {
    const el = document.createElement('div');
    el.className = 'cw-msg cw-draft';
    el.setAttribute('data-turn', key);
    el.setAttribute('aria-busy', 'true');
    const who = document.createElement('span');
    who.className = 'cw-who cw-sr';
    who.textContent = ROLE_LABEL.assistant;
    el.appendChild(who);
    const textEl = document.createElement('div');
    textEl.className = 'cw-text';
    el.appendChild(textEl);
    const stick = nearBottom();
    log.appendChild(el);
    updateEmpty();
    if (stick) scrollToBottom();
    const d = { turn: turn, key: key, el: el, textEl: textEl, text: '', stale: false, touched: Date.now() };
    st.drafts.set(key, d);
    return d;
  }

  function removeDraft(d) {
    st.drafts.delete(d.key);
    if (d.el.parentNode) d.el.parentNode.removeChild(d.el);
    updateEmpty();
  }

  function sweepDrafts() {
    const now = Date.now();
    for (const d of Array.from(st.drafts.values())) {
      if (now - d.touched > DRAFT_ABANDON_MS) removeDraft(d);
    }
  }

  function onDelta(f) {
    const key = f.turn == null ? '' : String(f.turn);
    if (st.finishedTurns.has(key)) return; // late delta after the final message
    setTyping(false);
    let d = st.drafts.get(key);
    if (f.reset === true) {
      if (d) {
        d.text = '';
        d.stale = false;
      }
    } else if (d && d.stale) {
      setTyping(true); // pieces were missed while offline; wait for a reset or the final message
      return;
    }
    const piece = typeof f.text === 'string' ? f.text : '';
    if (!d) {
      if (!piece && f.reset !== true) return;
      d = newDraft(key, f.turn);
    }
    const stick = nearBottom();
    d.text += piece;
    d.textEl.textContent = d.text;
    d.touched = Date.now();
    if (stick) scrollToBottom();
  }

  function squash(s) {
    return s.replace(/\s+/g, ' ').trim();
  }

  // Finds the streaming draft that a final assistant message completes.
  function takeDraft(f, text) {
    if (!st.drafts.size) return null;
    let d = null;
    if (f.turn != null) d = st.drafts.get(String(f.turn)) || null;
    if (!d && f.reply_to != null) d = st.drafts.get(String(f.reply_to)) || null;
    if (!d) {
      const want = squash(text);
      for (const c of st.drafts.values()) {
        const have = squash(c.text);
        if (have && want.slice(0, have.length) === have) {
          d = c;
          break;
        }
      }
    }
    if (!d && f.turn == null && f.reply_to == null && st.drafts.size === 1) {
      d = st.drafts.values().next().value;
    }
    if (d) {
      st.drafts.delete(d.key);
      st.finishedTurns.add(d.key);
    }
    if (f.turn != null) st.finishedTurns.add(String(f.turn));
    return d;
  }

  function findLocal(f) {
    if (f.id != null) {
      const m = st.messages.get(String(f.id));
      if (m) return m;
    }
    if (f.client_id != null) {
      const m = st.messages.get(String(f.client_id));
      if (m) return m;
    }
    if (f.role === 'user' && typeof f.text === 'string') {
      // Our own message echoed under a server id: match the oldest unsequenced copy.
      for (const m of orderedMessages()) {
        if (m.role === 'user' && m.seq == null && !m.serverId && m.text === f.text) return m;
      }
    }
    return null;
  }

  function onMessage(f) {
    const seq = toSeq(f.seq);
    const text = typeof f.text === 'string' ? f.text : f.text == null ? '' : String(f.text);
    const known = findLocal(f);
    if (known) {
      markAcked(known);
      if (seq != null && known.seq == null) {
        known.seq = seq;
        if (known.el) known.el.setAttribute('data-seq', String(seq));
      }
      if (f.id != null && String(f.id) !== known.id && !known.serverId) {
        known.serverId = String(f.id);
        st.messages.set(known.serverId, known);
      }
      if (seq != null && seq > st.lastSeq) st.lastSeq = seq;
      return true;
    }
    if (seq != null && seq <= st.lastSeq) return false; // already seen (replay)
    if (seq != null) st.lastSeq = seq;
    const role = roleOf(f.role);
    const m = {
      id: f.id != null ? String(f.id) : seq != null ? 'seq-' + seq : uuid(),
      serverId: null,
      seq: seq,
      role: role,
      text: text,
      sources: normSources(f.sources),
      replyTo: f.reply_to == null ? null : f.reply_to,
      pending: false,
      el: null,
    };
    const d = role === 'assistant' ? takeDraft(f, text) : null;
    addMessage(m, d ? { replace: d.el } : null);
    if (role !== 'user') {
      setTyping(false);
      if (!st.open) setUnread(st.unread + 1);
    }
    sweepDrafts();
    return true;
  }

  const ERROR_TEXT = {
    rate_limited: 'You are sending messages too quickly. Your message will be retried shortly.',
    too_large: 'Your message is too long.',
    unauthorized: 'Your chat session expired. Reconnecting\u2026',
    internal: 'Something went wrong. Please try again.',
    not_sent: 'A message could not be sent. Use \u201cretry\u201d to try again.',
  };

  function onError(f) {
    const code = f.code == null ? '' : String(f.code);
    if (code === 'bad_seq') return; // a seen frame the server refused: nothing for the person to do
    if (code === 'retry') {
      // Not confirmed (not refused): resend by ourselves, the message stays pending.
      const m = f.id == null ? null : st.messages.get(String(f.id));
      if (m) onNotConfirmed(m);
      return;
    }
    const text = (typeof f.message === 'string' && f.message) || ERROR_TEXT[code] || 'Something went wrong.';
    showError(text, code, 'server');
    if (code === 'rate_limited') scheduleResend(RESEND_AFTER_RATE_LIMIT_MS);
    if (code === 'unauthorized' || code === 'token_expired' || code === 'session_expired') st.session = null;
    if (f.id != null) {
      const m = st.messages.get(String(f.id));
      if (m && m.pending && m.el && code !== 'rate_limited') m.el.classList.add('cw-failed');
    }
    if (f.turn != null) {
      const d = st.drafts.get(String(f.turn));
      if (d) removeDraft(d);
    }
    setTyping(false);
  }

  // ---------------------------------------------------------------- API + UI

  function frameBytes(obj) {
    const s = JSON.stringify(obj);
    return typeof TextEncoder === 'function' ? new TextEncoder().encode(s).length : s.length * 3;
  }

  function send(text) {
    text = (text == null ? '' : String(text)).replace(/\r\n?/g, '\n').trim();
    if (!text) return null;
    const id = uuid();
    const frame = { type: 'message', id: id, text: text };
    if (frameBytes(frame) > MAX_FRAME_BYTES) {
      showError(ERROR_TEXT.too_large, 'too_large', 'local');
      return null;
    }
    if (st.error && st.error.source !== 'session' && st.error.source !== 'connection') clearError();
    const m = {
      id: id, serverId: null, seq: null, role: 'user', text: text,
      sources: [], replyTo: null, pending: true, el: null,
    };
    addMessage(m, { scroll: true });
    persist();
    ensureConnected();
    if (sendFrame(frame)) m.sentAt = Date.now();
    notify();
    return id;
  }

  function openPanel() {
    if (!st.open) {
      st.open = true;
      panel.hidden = false;
      bubble.setAttribute('aria-expanded', 'true');
      setUnread(0);
      scrollToBottom();
      notify();
    }
    ensureConnected();
    reportSeen();
    try { input.focus({ preventScroll: true }); } catch (e) { input.focus(); }
  }

  function closePanel() {
    if (!st.open) return;
    const hadFocus = root.activeElement != null && panel.contains(root.activeElement);
    st.open = false;
    panel.hidden = true;
    bubble.setAttribute('aria-expanded', 'false');
    setUnread(st.unread);
    if (hadFocus) bubble.focus();
    notify();
  }

  function autosize() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 2, 120) + 'px';
  }

  bubble.addEventListener('click', () => (st.open ? closePanel() : openPanel()));
  closeBtn.addEventListener('click', closePanel);
  errorClose.addEventListener('click', () => clearError());
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      closePanel();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (send(input.value)) {
      input.value = '';
      autosize();
    }
    input.focus();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      if (typeof form.requestSubmit === 'function') form.requestSubmit();
      else form.dispatchEvent(new Event('submit', { cancelable: true }));
    }
  });
  input.addEventListener('input', autosize);

  window.addEventListener('online', connectNow);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      connectNow();
      reportSeen();
    }
  });

  function state() {
    return {
      status: st.status,
      open: st.open,
      widget_key: widgetKey,
      base: base,
      conversation_id: st.conversationId,
      end_user_id: st.endUserId,
      last_seq: st.lastSeq,
      seen_seq: seenSent,
      messages: orderedMessages().map((m) => ({
        id: m.id,
        server_id: m.serverId,
        seq: m.seq,
        role: m.role,
        text: m.text,
        sources: m.sources.map((s) => Object.assign({}, s)),
        reply_to: m.replyTo,
        pending: m.pending,
        failed: !!m.failed,
        resends: m.resends || 0,
      })),
      pending: pendingMessages().map((m) => m.id),
      drafts: Array.from(st.drafts.values()).map((d) => ({ turn: d.turn, text: d.text, stale: d.stale })),
      typing: st.typing,
      error: st.error ? { code: st.error.code, message: st.error.text } : null,
      unread: st.unread,
    };
  }

  window.coachwire = Object.freeze({
    __coachwire: true,
    version: 1,
    open: openPanel,
    close: closePanel,
    toggle: () => (st.open ? closePanel() : openPanel()),
    send: send,
    state: state,
  });

  // ---------------------------------------------------------------- start

  function start() {
    (document.body || document.documentElement).appendChild(host);
    restore();
    updateEmpty();
    setUnread(0);
    if (startOpen) openPanel();
    else if (log.children.length) ensureConnected(); // continue a conversation after a reload
  }

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start, { once: true });
})();
