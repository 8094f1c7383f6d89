/*! coachwire chat widget: plain ES2018, no dependencies, no build step. Embedding, data- options,
 * CSS variables and languages: docs/widget.md. Renders in an open shadow root; server text is
 * only ever built as DOM and text nodes. Test API: window.coachwire. */
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
  // An unconfirmed message (error "retry") is resent, same id, with backoff; not sent after RETRY_GIVE_UP_MS.
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
  const MD_MAX_DEPTH = 4; // deeper list nesting is flattened; inline nesting likewise bounded


  const script = findOwnScript();
  if (!script) {
    console.warn('coachwire: cannot find the widget <script> element');
    return;
  }
  const attr = (n) => (script.getAttribute('data-' + n) || '').trim();
  const widgetKey = attr('widget-key');
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
  const userId = attr('user-id');
  const userHash = attr('user-hash');
  const titleOpt = attr('title');
  const startOpen = attr('open').toLowerCase() === 'true';
  const previewOpt = attr('preview') === 'true';
  let draft = null; // unsaved settings shown by preview(), over the data- options and the coach's
  const opt = (n) => {
    const l = draft || (st.coach && st.coach.look) || {};
    return (draft ? '' : attr(n)) || (typeof l[n] === 'string' ? l[n].trim() : '');
  };
  const avatarOpt = safeURL(attr('avatar'), false, document.baseURI);
  const soundOpt = attr('sound').toLowerCase() === 'true';
  const flashOpt = attr('title-flash').toLowerCase() !== 'false';

  function findOwnScript() {
    if (document.currentScript) return document.currentScript;
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

  // safeURL is an absolute http(s) URL (relative only against base), or '' (never javascript:, data:, ...).
  function safeURL(v, mail, base) {
    if (!v || typeof v !== 'string') return '';
    try {
      const u = new URL(v, base);
      if (u.protocol === 'https:' || u.protocol === 'http:' || (mail && u.protocol === 'mailto:')) return u.href;
    } catch (e) { /* not a URL */ }
    return '';
  }


  // One catalogue per language; {n} and {name} are filled in by t().
  const CATALOGUE = {
    en: {
      about: 'What does \u201c{t}\u201d cover?',
      open: 'Open chat', close: 'Close chat', placeholder: 'Write a message\u2026', send: 'Send message', message: 'Message',
      online: 'Online', connecting: 'Connecting\u2026', offline: 'Offline', typing: '{name} is typing',
      welcome: 'Hi! How can I help you today?', chat: 'Chat', you: 'You', coach: 'Coach',
      source1: '1 source', sources: '{n} sources', page: 'p. {n}', untitled: 'Untitled document',
      newmsg: 'New message', sending: 'Sending\u2026', waiting: 'Waiting for connection\u2026', notsent: 'Not sent \u2014 retry',
      offlineBanner: 'You are offline. Messages are sent when you are back.', conversation: 'Conversation',
      dismiss: 'Dismiss', powered: 'Powered by coachwire', suggestions: 'Suggested questions', unread: '{n} new',
      rate_limited: 'Too many messages at once. Yours will be retried shortly.',
      too_large: 'Your message is too long.', unauthorized: 'Your chat session expired. Reconnecting\u2026',
      internal: 'Something went wrong. Please try again.', not_sent: 'A message was not sent. Use \u201cretry\u201d.',
      blocked: 'This chat is not available on this site.', notfound: 'This chat could not be found.',
      busy: 'Too many attempts. Retrying shortly\u2026', unreachable: 'Cannot reach the chat service. Retrying\u2026',
    },
    es: {
      about: '\u00bfDe qu\u00e9 trata \u00ab{t}\u00bb?',
      open: 'Abrir chat', close: 'Cerrar chat', placeholder: 'Escribe un mensaje\u2026', send: 'Enviar mensaje', message: 'Mensaje',
      online: 'En l\u00ednea', connecting: 'Conectando\u2026', offline: 'Sin conexi\u00f3n', typing: '{name} est\u00e1 escribiendo',
      welcome: '\u00a1Hola! \u00bfEn qu\u00e9 puedo ayudarte hoy?', chat: 'Chat', you: 'T\u00fa', coach: 'Coach',
      source1: '1 fuente', sources: '{n} fuentes', page: 'p\u00e1g. {n}', untitled: 'Documento sin t\u00edtulo',
      newmsg: 'Mensaje nuevo', sending: 'Enviando\u2026', waiting: 'Esperando conexi\u00f3n\u2026', notsent: 'No enviado \u2014 reintentar',
      offlineBanner: 'Sin conexi\u00f3n. Los mensajes se enviar\u00e1n al volver.', conversation: 'Conversaci\u00f3n',
      dismiss: 'Cerrar', powered: 'Con la tecnolog\u00eda de coachwire', suggestions: 'Preguntas sugeridas', unread: '{n} nuevos',
      rate_limited: 'Demasiados mensajes. El tuyo se reenviar\u00e1 en breve.',
      too_large: 'Tu mensaje es demasiado largo.', unauthorized: 'Tu sesi\u00f3n de chat caduc\u00f3. Reconectando\u2026',
      internal: 'Algo sali\u00f3 mal. Int\u00e9ntalo de nuevo.', not_sent: 'Un mensaje no se pudo enviar. Usa \u00abreintentar\u00bb.',
      blocked: 'Este chat no est\u00e1 disponible en este sitio.', notfound: 'No se encontr\u00f3 este chat.',
      busy: 'Demasiados intentos. Reintentando en breve\u2026', unreachable: 'No se puede conectar con el chat. Reintentando\u2026',
    },
    pt: {
      about: 'Do que trata \u201c{t}\u201d?',
      open: 'Abrir chat', close: 'Fechar chat', placeholder: 'Escreva uma mensagem\u2026', send: 'Enviar mensagem', message: 'Mensagem',
      online: 'Online', connecting: 'Conectando\u2026', offline: 'Offline', typing: '{name} est\u00e1 digitando',
      welcome: 'Ol\u00e1! Como posso ajudar hoje?', chat: 'Chat', you: 'Voc\u00ea', coach: 'Coach',
      source1: '1 fonte', sources: '{n} fontes', page: 'p. {n}', untitled: 'Documento sem t\u00edtulo',
      newmsg: 'Nova mensagem', sending: 'Enviando\u2026', waiting: 'Aguardando conex\u00e3o\u2026', notsent: 'N\u00e3o enviada \u2014 tentar de novo',
      offlineBanner: 'Voc\u00ea est\u00e1 offline. As mensagens ser\u00e3o enviadas ao voltar.', conversation: 'Conversa',
      dismiss: 'Fechar', powered: 'Desenvolvido por coachwire', suggestions: 'Perguntas sugeridas', unread: '{n} novas',
      rate_limited: 'Mensagens demais. A sua ser\u00e1 reenviada em breve.',
      too_large: 'Sua mensagem \u00e9 longa demais.', unauthorized: 'Sua sess\u00e3o expirou. Reconectando\u2026',
      internal: 'Algo deu errado. Tente novamente.', not_sent: 'Uma mensagem n\u00e3o foi enviada. Use \u201ctentar de novo\u201d.',
      blocked: 'Este chat n\u00e3o est\u00e1 dispon\u00edvel neste site.', notfound: 'Este chat n\u00e3o foi encontrado.',
      busy: 'Tentativas demais. Tentando novamente em breve\u2026', unreachable: 'N\u00e3o foi poss\u00edvel conectar ao chat. Tentando novamente\u2026',
    },
    fr: {
      about: 'Que contient \u00ab\u00a0{t}\u00a0\u00bb\u00a0?',
      open: 'Ouvrir le chat', close: 'Fermer le chat', placeholder: '\u00c9crivez un message\u2026', send: 'Envoyer le message', message: 'Message',
      online: 'En ligne', connecting: 'Connexion\u2026', offline: 'Hors ligne', typing: '{name} est en train d\u2019\u00e9crire',
      welcome: 'Bonjour\u00a0! Comment puis-je vous aider aujourd\u2019hui\u00a0?', chat: 'Chat', you: 'Vous', coach: 'Coach',
      source1: '1 source', sources: '{n} sources', page: 'p. {n}', untitled: 'Document sans titre',
      newmsg: 'Nouveau message', sending: 'Envoi\u2026', waiting: 'En attente de connexion\u2026', notsent: 'Non envoy\u00e9 \u2014 r\u00e9essayer',
      offlineBanner: 'Hors ligne. Les messages partiront au retour de la connexion.', conversation: 'Conversation',
      dismiss: 'Fermer', powered: 'Propuls\u00e9 par coachwire', suggestions: 'Questions sugg\u00e9r\u00e9es', unread: '{n} nouveaux',
      rate_limited: 'Trop de messages. Le v\u00f4tre sera renvoy\u00e9 sous peu.',
      too_large: 'Votre message est trop long.', unauthorized: 'Votre session a expir\u00e9. Reconnexion\u2026',
      internal: 'Une erreur est survenue. Veuillez r\u00e9essayer.', not_sent: 'Un message n\u2019a pas pu \u00eatre envoy\u00e9. Utilisez \u00ab\u00a0r\u00e9essayer\u00a0\u00bb.',
      blocked: 'Ce chat n\u2019est pas disponible sur ce site.', notfound: 'Ce chat est introuvable.',
      busy: 'Trop de tentatives. Nouvel essai sous peu\u2026', unreachable: 'Impossible de joindre le chat. Nouvel essai\u2026',
    },
    de: {
      about: 'Worum geht es in \u201e{t}\u201c?',
      open: 'Chat \u00f6ffnen', close: 'Chat schlie\u00dfen', placeholder: 'Nachricht schreiben\u2026', send: 'Nachricht senden', message: 'Nachricht',
      online: 'Online', connecting: 'Verbinde\u2026', offline: 'Offline', typing: '{name} schreibt',
      welcome: 'Hallo! Wie kann ich dir heute helfen?', chat: 'Chat', you: 'Du', coach: 'Coach',
      source1: '1 Quelle', sources: '{n} Quellen', page: 'S. {n}', untitled: 'Dokument ohne Titel',
      newmsg: 'Neue Nachricht', sending: 'Wird gesendet\u2026', waiting: 'Warte auf Verbindung\u2026', notsent: 'Nicht gesendet \u2014 erneut versuchen',
      offlineBanner: 'Offline. Nachrichten werden gesendet, sobald du zur\u00fcck bist.', conversation: 'Unterhaltung',
      dismiss: 'Schlie\u00dfen', powered: 'Bereitgestellt von coachwire', suggestions: 'Vorgeschlagene Fragen', unread: '{n} neu',
      rate_limited: 'Zu viele Nachrichten. Deine wird gleich erneut gesendet.',
      too_large: 'Deine Nachricht ist zu lang.', unauthorized: 'Deine Sitzung ist abgelaufen. Verbinde neu\u2026',
      internal: 'Etwas ist schiefgelaufen. Bitte versuche es erneut.', not_sent: 'Eine Nachricht wurde nicht gesendet. Tippe auf \u201eerneut versuchen\u201c.',
      blocked: 'Dieser Chat ist auf dieser Website nicht verf\u00fcgbar.', notfound: 'Dieser Chat wurde nicht gefunden.',
      busy: 'Zu viele Versuche. Gleich erneut\u2026', unreachable: 'Der Chat ist nicht erreichbar. Neuer Versuch\u2026',
    },
  };
  let lang = 'en';
  let MSG = CATALOGUE.en;

  function pickLang(v) {
    const l = String(v).toLowerCase().slice(0, 2);
    return CATALOGUE[l] ? l : 'en';
  }

  function t(key, vars) {
    let s = MSG[key] != null ? MSG[key] : CATALOGUE.en[key] || key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] != null ? String(vars[k]) : m));
    return s;
  }


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
  // v2: seq counts one conversation's messages (v1 state is not read back).
  const K_SEQ = 'coachwire:' + widgetKey + ':v2:seq';
  const K_HISTORY = 'coachwire:' + widgetKey + ':v2:history';
  const K_COACH = 'coachwire:' + widgetKey + ':coach';

  function safeSet(s, k, v) {
    try { s.setItem(k, v); } catch (e) { /* quota */ }
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      try { return window.crypto.randomUUID(); } catch (e) { /* insecure context */ }
    }
    const b = window.crypto.getRandomValues(new Uint8Array(16));
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


  const st = {
    status: 'offline', // offline | connecting | online | blocked
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
    coach: readCoach(), // {name, avatar_url, welcome, suggestions, branding} from the session
    ready: false, // the first history replay is done (later coach messages may alert)
    alerts: 0,
    blocked: '', // the origin the creator has not allowed: nothing is retried
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

  function readCoach() {
    try {
      const c = JSON.parse(local.getItem(K_COACH) || 'null');
      return c && typeof c === 'object' ? c : null;
    } catch (e) {
      return null;
    }
  }


  // CSS variables a page may set on #coachwire-widget (docs/widget.md); defaults meet WCAG AA.
  const CSS = [
    ':host{all:initial;}',
    '*,*::before,*::after{box-sizing:border-box;}',
    '[hidden]{display:none !important;}',
    '.cw-root{--a:var(--cw-accent,#2563eb);--at:var(--cw-accent-text,#fff);--bg:var(--cw-bg,#fff);--sf:var(--cw-surface,#f5f6f8);',
    '--tx:var(--cw-text,#1a1d21);--mu:var(--cw-muted,#5b6470);--bd:var(--cw-border,#e2e5e9);--cb:var(--cw-coach-bubble,#fff);',
    '--r:var(--cw-radius,16px);--ring:var(--cw-focus,#1d4ed8);--z:var(--cw-z-index,2147483000);',
    'font:15px/1.5 var(--cw-font,system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif);color:var(--tx);}',
    '.cw-root[data-theme="dark"]{--bg:var(--cw-bg,#1b1e22);--sf:var(--cw-surface,#121417);--tx:var(--cw-text,#e9ebee);',
    '--mu:var(--cw-muted,#a3abb5);--bd:var(--cw-border,#2e3238);--cb:var(--cw-coach-bubble,#24282d);--ring:var(--cw-focus,#93c5fd);}',
    'button{font:inherit;color:inherit;}',
    ':focus-visible{outline:3px solid var(--ring);outline-offset:2px;}',
    // launcher
    '.cw-bubble{position:fixed;right:calc(20px + env(safe-area-inset-right));bottom:calc(20px + env(safe-area-inset-bottom));height:60px;min-width:60px;',
    'border-radius:30px;border:0;margin:0;padding:0 16px;background:var(--a);color:var(--at);cursor:pointer;display:flex;align-items:center;',
    'justify-content:center;gap:8px;font-weight:600;font-size:15px;box-shadow:0 6px 20px rgba(0,0,0,.2),0 2px 6px rgba(0,0,0,.12);',
    'z-index:var(--z);transition:transform .15s ease;}',
    '.cw-root[data-pos="left"] .cw-bubble{right:auto;left:calc(20px + env(safe-area-inset-left));}',
    '.cw-bubble:hover{transform:scale(1.05);}',
    '.cw-bubble svg{width:28px;height:28px;flex:none;}',
    '.cw-bubble .cw-i-x,.cw-root[data-open] .cw-bubble .cw-i-chat{display:none;}',
    '.cw-root[data-open] .cw-bubble .cw-i-x{display:block;}',
    '.cw-root[data-open] .cw-launch-text{display:none;}',
    '.cw-unread{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;border-radius:11px;background:#c81e1e;color:#fff;',
    'font-size:12px;font-weight:700;line-height:22px;padding:0 6px;text-align:center;box-shadow:0 0 0 2px #fff;}',
    // panel
    '.cw-panel{position:fixed;right:calc(20px + env(safe-area-inset-right));bottom:calc(92px + env(safe-area-inset-bottom));width:min(400px,calc(100vw - 40px));',
    'height:min(680px,calc(100vh - 120px));height:min(680px,calc(100dvh - 120px));background:var(--bg);border-radius:var(--r);',
    'box-shadow:0 16px 48px rgba(0,0,0,.2),0 2px 8px rgba(0,0,0,.08);display:flex;flex-direction:column;overflow:hidden;z-index:var(--z);',
    'animation:cw-in .18s ease-out;transform-origin:100% 100%;}',
    '.cw-root[data-pos="left"] .cw-panel{right:auto;left:calc(20px + env(safe-area-inset-left));transform-origin:0 100%;}',
    '@keyframes cw-in{from{opacity:0;transform:translateY(10px) scale(.98);}}',
    '.cw-header{display:flex;align-items:center;gap:12px;padding:14px 8px 14px 16px;background:var(--a);color:var(--at);flex:none;}',
    '.cw-heading{flex:1;min-width:0;display:flex;flex-direction:column;}',
    '.cw-title{margin:0;font-size:16px;font-weight:650;line-height:1.3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;}',
    '.cw-status{font-size:13px;line-height:1.3;display:flex;align-items:center;gap:6px;}',
    '.cw-status::before{content:"";width:8px;height:8px;border-radius:50%;background:#c4c9d0;box-shadow:0 0 0 2px rgba(255,255,255,.85);}',
    '.cw-status[data-state="online"]::before{background:#16a34a;}',
    '.cw-status[data-state="connecting"]::before{background:#f59e0b;}',
    '.cw-close{border:0;background:transparent;cursor:pointer;width:40px;height:40px;border-radius:50%;display:flex;align-items:center;justify-content:center;flex:none;}',
    '.cw-close:hover{background:rgba(255,255,255,.16);}',
    '.cw-header :focus-visible{outline:3px solid var(--at);outline-offset:-3px;box-shadow:0 0 0 6px rgba(0,0,0,.35) inset;}',
    '.cw-close svg{width:22px;height:22px;}',
    '.cw-av{flex:none;width:28px;height:28px;border-radius:50%;overflow:hidden;display:flex;align-items:center;justify-content:center;',
    'background:var(--a);color:var(--at);font-size:12px;font-weight:700;}',
    '.cw-av img{width:100%;height:100%;object-fit:cover;display:block;}',
    '.cw-header .cw-av{width:42px;height:42px;font-size:16px;box-shadow:0 0 0 2px rgba(255,255,255,.9);}',
    '.cw-banner{flex:none;margin:0;padding:8px 16px;font-size:13px;background:#fff4d6;color:#6b4100;border-bottom:1px solid #f3dc9c;}',
    '.cw-main{position:relative;flex:1;min-height:0;display:flex;flex-direction:column;background:var(--sf);}',
    '.cw-scroll{position:relative;flex:1;overflow-y:auto;overscroll-behavior:contain;padding:16px 14px 8px;display:flex;flex-direction:column;gap:12px;}',
    '.cw-scroll:focus-visible{outline-offset:-3px;}',
    '.cw-log{display:flex;flex-direction:column;gap:12px;}',
    // messages
    '.cw-msg{display:flex;gap:8px;align-items:flex-end;max-width:90%;}',
    '.cw-col{display:flex;flex-direction:column;min-width:0;gap:3px;}',
    '.cw-body{padding:10px 14px;border-radius:18px;overflow-wrap:anywhere;word-break:break-word;}',
    '.cw-user{align-self:flex-end;}',
    '.cw-user .cw-col{align-items:flex-end;}',
    '.cw-user .cw-body{background:var(--a);color:var(--at);border-bottom-right-radius:6px;white-space:pre-wrap;}',
    '.cw-coach{align-self:flex-start;}',
    '.cw-coach .cw-body{background:var(--cb);border:1px solid var(--bd);border-bottom-left-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.04);}',
    '.cw-creator .cw-body{border-color:#e0a526;}',
    '.cw-msg:has(.cw-meta:not(:empty))>.cw-av{margin-bottom:21px;}',
    '.cw-meta{font-size:12px;color:var(--mu);padding:0 6px;display:flex;gap:6px;align-items:center;}',
    '.cw-failed .cw-body{box-shadow:0 0 0 2px #d92d20;}',
    '.cw-retry{border:0;background:transparent;color:#b42318;font-weight:600;font-size:12px;cursor:pointer;padding:2px 4px;border-radius:6px;text-decoration:underline;}',
    '.cw-root[data-theme="dark"] .cw-retry{color:#fda29b;}',
    // markdown
    '.cw-text>:first-child{margin-top:0;}',
    '.cw-text>:last-child{margin-bottom:0;}',
    '.cw-text p{margin:0 0 .6em;}',
    '.cw-text h3,.cw-text h4{margin:.9em 0 .35em;font-size:1.02em;font-weight:700;line-height:1.35;}',
    '.cw-text ul,.cw-text ol{margin:.3em 0 .6em;padding-left:1.35em;}',
    '.cw-text li{margin:.2em 0;}',
    '.cw-text li>ul,.cw-text li>ol{margin:.15em 0;}',
    '.cw-text code{font:.88em/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:rgba(127,127,127,.14);padding:.1em .35em;border-radius:5px;}',
    '.cw-text pre{margin:.4em 0 .6em;padding:10px 12px;background:rgba(127,127,127,.12);border-radius:8px;overflow-x:auto;white-space:pre;}',
    '.cw-text pre code{background:none;padding:0;}',
    '.cw-text hr{border:0;border-top:1px solid var(--bd);margin:.8em 0;}',
    '.cw-text a{color:inherit;text-decoration:underline;text-underline-offset:2px;}',
    '.cw-quote{display:block;margin:.4em 0 .6em;padding:2px 0 2px 12px;border-left:3px solid var(--bd);color:var(--mu);white-space:pre-wrap;}',
    '.cw-cite{margin:.4em 0 0;font-size:.9em;font-weight:600;color:var(--mu);}',
    '.cw-ref{font-size:.72em;font-weight:700;color:var(--mu);margin-left:1px;vertical-align:super;line-height:0;}',
    '.cw-caret::after{content:"\\258D";margin-left:1px;animation:cw-blink 1s steps(1) infinite;color:var(--mu);}',
    '@keyframes cw-blink{50%{opacity:0;}}',
    // sources
    '.cw-srcs{margin:10px 0 0;border-top:1px solid var(--bd);padding-top:6px;font-size:13px;}',
    '.cw-srcs summary{cursor:pointer;color:var(--mu);font-weight:600;list-style:none;display:inline-flex;align-items:center;gap:4px;padding:4px 6px;margin-left:-6px;border-radius:6px;}',
    '.cw-srcs summary::-webkit-details-marker{display:none;}',
    '.cw-srcs summary::after{content:"";width:6px;height:6px;border:solid currentColor;border-width:0 2px 2px 0;transform:rotate(45deg);margin:0 0 3px 4px;transition:transform .15s;}',
    '.cw-srcs[open] summary::after{transform:rotate(-135deg);margin:3px 0 0 4px;}',
    '.cw-sources{list-style:none;margin:4px 0 2px;padding:0;display:flex;flex-direction:column;gap:6px;}',
    '.cw-source{display:flex;gap:8px;align-items:baseline;line-height:1.35;}',
    '.cw-source-num{flex:none;min-width:20px;height:20px;border-radius:10px;background:var(--sf);border:1px solid var(--bd);color:var(--mu);font-size:11px;font-weight:700;display:inline-flex;align-items:center;justify-content:center;}',
    '.cw-source-title{font-weight:600;}',
    '.cw-source a{color:inherit;}',
    '.cw-source-loc{color:var(--mu);}',
    '.cw-source-loc::before{content:" \\00B7  ";}',
    // welcome, typing, pill
    '.cw-chips{display:flex;flex-wrap:wrap;gap:8px;justify-content:flex-end;margin-top:4px;}',
    '.cw-chip{border:1.5px solid var(--a);background:var(--bg);color:var(--tx);border-radius:18px;padding:8px 14px;cursor:pointer;font-size:14px;line-height:1.3;text-align:left;min-height:40px;}',
    '.cw-chip:hover{background:var(--sf);}',
    '.cw-typing .cw-body{display:flex;gap:4px;padding:14px 16px;}',
    '.cw-typing .cw-body span{width:7px;height:7px;border-radius:50%;background:var(--mu);animation:cw-bounce 1.2s infinite ease-in-out;}',
    '.cw-typing .cw-body span:nth-child(2){animation-delay:.15s;}',
    '.cw-typing .cw-body span:nth-child(3){animation-delay:.3s;}',
    '@keyframes cw-bounce{0%,80%,100%{transform:translateY(0);opacity:.45;}40%{transform:translateY(-4px);opacity:1;}}',
    '.cw-pill{position:absolute;left:50%;bottom:12px;transform:translateX(-50%);border:0;border-radius:18px;padding:7px 14px;background:var(--a);',
    'color:var(--at);font-size:13px;font-weight:600;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.2);display:flex;gap:6px;align-items:center;white-space:nowrap;}',
    '.cw-error{display:flex;align-items:center;gap:6px;margin:0;padding:8px 8px 8px 16px;background:#fdecea;color:#8a1c12;font-size:13px;border-top:1px solid #f6c9c4;flex:none;}',
    '.cw-error-text{flex:1;}',
    '.cw-error-close{border:0;background:transparent;cursor:pointer;width:32px;height:32px;border-radius:50%;display:flex;align-items:center;justify-content:center;}',
    '.cw-error-close svg{width:14px;height:14px;}',
    // composer
    '.cw-foot{flex:none;background:var(--bg);border-top:1px solid var(--bd);padding-bottom:env(safe-area-inset-bottom);}',
    '.cw-form{display:flex;align-items:flex-end;gap:8px;padding:10px 12px;margin:0;}',
    '.cw-input{flex:1;resize:none;font:inherit;font-size:16px;line-height:1.4;color:var(--tx);padding:9px 14px;border:1px solid var(--bd);border-radius:20px;',
    'min-height:42px;max-height:140px;background:var(--bg);margin:0;}',
    '.cw-input::placeholder{color:var(--mu);opacity:1;}',
    '.cw-input:focus{outline:none;border-color:var(--a);box-shadow:0 0 0 3px color-mix(in srgb,var(--a) 25%,transparent);}',
    '.cw-send{flex:none;width:42px;height:42px;border:0;border-radius:50%;background:var(--a);color:var(--at);cursor:pointer;display:flex;align-items:center;justify-content:center;padding:0;}',
    '.cw-send svg{width:19px;height:19px;}',
    '.cw-brand{margin:0;padding:0 12px 8px;text-align:center;font-size:12px;color:var(--mu);}',
    '.cw-sr{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0;}',
    // phone: a full-screen panel, no launcher over it, 44 px targets
    '@media (max-width:480px){.cw-panel,.cw-root[data-pos="left"] .cw-panel{left:0;right:0;top:0;bottom:0;width:100%;height:100vh;height:100dvh;border-radius:0;animation:none;}',
    '.cw-root[data-open] .cw-bubble{display:none;}',
    '.cw-header{padding-top:calc(12px + env(safe-area-inset-top));padding-left:calc(16px + env(safe-area-inset-left));padding-right:calc(6px + env(safe-area-inset-right));}',
    '.cw-close,.cw-send{width:44px;height:44px;}',
    '.cw-chip,.cw-pill,.cw-retry,.cw-srcs summary{min-height:44px;}',
    '.cw-error-close{width:44px;height:44px;}',
    '.cw-msg{max-width:94%;}}',
    '@media (prefers-reduced-motion:reduce){.cw-bubble,.cw-panel,.cw-typing span,.cw-caret::after{animation:none;transition:none;}}',
  ].join('');

  const SVG = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false"';
  const ICON_CHAT = SVG + ' class="cw-i-chat"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.4A8 8 0 1 1 21 12z"/></svg>';
  const ICON_DOWN = SVG + ' class="cw-i-x"><path d="M6 9l6 6 6-6"/></svg>';
  const ICON_CLOSE = SVG + '><path d="M6 6l12 12M18 6L6 18"/></svg>';
  const ICON_SEND = SVG + '><path d="M22 2L11 13M22 2l-7 20-4-9-9-4 20-7z"/></svg>';
  const ICON_ARROW = SVG + ' width="14" height="14"><path d="M12 5v14M5 12l7 7 7-7"/></svg>';

  // Static markup only (no server or page data): text is filled in with textContent below.
  const TEMPLATE =
    '<div class="cw-root" id="cw-root">' +
    '<button type="button" class="cw-bubble" id="cw-bubble" aria-haspopup="dialog" aria-expanded="false" aria-controls="cw-panel">' +
    ICON_CHAT + ICON_DOWN + '<span class="cw-launch-text" id="cw-launch-text" hidden></span>' +
    '<span class="cw-unread" id="cw-unread" aria-hidden="true" hidden></span></button>' +
    '<section class="cw-panel" id="cw-panel" role="dialog" aria-modal="false" aria-labelledby="cw-title" hidden>' +
    '<header class="cw-header"><span class="cw-av" id="cw-head-av" aria-hidden="true"></span><div class="cw-heading"><h2 class="cw-title" id="cw-title"></h2>' +
    '<span class="cw-status" id="cw-status" data-state="offline"></span></div>' +
    '<button type="button" class="cw-close" id="cw-close">' + ICON_CLOSE + '</button></header>' +
    '<p class="cw-banner" id="cw-banner" role="status" hidden></p>' +
    '<div class="cw-main"><div class="cw-scroll" id="cw-scroll" tabindex="0">' +
    '<div class="cw-msg cw-coach cw-welcome" id="cw-welcome"><span class="cw-av" aria-hidden="true"></span><div class="cw-col"><div class="cw-body"><div class="cw-text" id="cw-welcome-text"></div></div></div></div>' +
    '<div class="cw-log" id="cw-log" role="log" aria-live="polite" aria-relevant="additions"></div>' +
    '<div class="cw-chips" id="cw-chips" role="group" hidden></div>' +
    '<div class="cw-msg cw-coach cw-typing" id="cw-typing" role="status" hidden><span class="cw-av" aria-hidden="true"></span><div class="cw-col"><div class="cw-body"><span></span><span></span><span></span></div></div></div>' +
    '</div><button type="button" class="cw-pill" id="cw-pill" hidden></button></div>' +
    '<div class="cw-error" id="cw-error" role="alert" hidden><span class="cw-error-text" id="cw-error-text"></span>' +
    '<button type="button" class="cw-error-close" id="cw-error-close">' + ICON_CLOSE + '</button></div>' +
    '<div class="cw-foot"><form class="cw-form" id="cw-form" novalidate>' +
    '<textarea class="cw-input" id="cw-input" rows="1" autocomplete="off"></textarea>' +
    '<button type="submit" class="cw-send" id="cw-send">' + ICON_SEND + '</button>' +
    '</form><p class="cw-brand" id="cw-brand"></p></div></section></div>';

  const host = document.createElement('div');
  host.id = HOST_ID;
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
  const rootEl = $('cw-root');
  const bubble = $('cw-bubble');
  const unreadEl = $('cw-unread');
  const panel = $('cw-panel');
  const titleEl = $('cw-title');
  const statusEl = $('cw-status');
  const closeBtn = $('cw-close');
  const bannerEl = $('cw-banner');
  const scroller = $('cw-scroll');
  const log = $('cw-log');
  const welcomeText = $('cw-welcome-text');
  const chipsEl = $('cw-chips');
  const typingEl = $('cw-typing');
  const pill = $('cw-pill');
  const errorEl = $('cw-error');
  const errorText = $('cw-error-text');
  const errorClose = $('cw-error-close');
  const form = $('cw-form');
  const input = $('cw-input');
  const brandEl = $('cw-brand');

  applyLook();

  function applyLook() {
    lang = pickLang(opt('lang') || document.documentElement.lang || navigator.language || 'en');
    MSG = CATALOGUE[lang];
    rootEl.setAttribute('lang', lang);
    rootEl.setAttribute('data-pos', opt('position').toLowerCase() === 'left' ? 'left' : 'right');
    closeBtn.setAttribute('aria-label', t('close'));
    scroller.setAttribute('aria-label', t('conversation'));
    chipsEl.setAttribute('aria-label', t('suggestions'));
    errorClose.setAttribute('aria-label', t('dismiss'));
    input.setAttribute('aria-label', t('message'));
    input.setAttribute('placeholder', t('placeholder'));
    $('cw-send').setAttribute('aria-label', t('send'));
    pill.textContent = t('newmsg') + ' ';
    pill.insertAdjacentHTML('beforeend', ICON_ARROW); // static markup
    brandEl.textContent = t('powered');
    statusEl.textContent = t(st.status === 'blocked' ? 'offline' : st.status);
    const lt = $('cw-launch-text');
    lt.textContent = opt('launcher-text');
    lt.hidden = !lt.textContent;
    applyTheme();
  }

  // applyTheme sets the data-theme and the accent colour (with a readable text colour on it).
  function applyTheme() {
    const themeOpt = opt('theme').toLowerCase();
    const colorOpt = opt('color');
    let theme = themeOpt === 'dark' ? 'dark' : 'light';
    if (themeOpt === 'auto' && window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches) theme = 'dark';
    rootEl.setAttribute('data-theme', theme);
    host.style.removeProperty('--cw-accent');
    host.style.removeProperty('--cw-accent-text');
    if (colorOpt && window.CSS && CSS_supports('color', colorOpt)) {
      host.style.setProperty('--cw-accent', colorOpt);
      const rgb = parseColor(colorOpt);
      if (rgb) host.style.setProperty('--cw-accent-text', contrast(rgb, [255, 255, 255]) >= 4.5 ? '#fff' : '#111');
    }
  }

  function CSS_supports(p, v) {
    try { return window.CSS.supports(p, v); } catch (e) { return false; }
  }

  function parseColor(c) {
    let m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(c);
    if (m) {
      let h = m[1];
      if (h.length === 3) h = h.replace(/./g, '$&$&');
      return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
    }
    m = /^rgba?\(\s*(\d+)[\s,]+(\d+)[\s,]+(\d+)/i.exec(c);
    return m ? [+m[1], +m[2], +m[3]] : null;
  }

  function luminance(rgb) {
    const c = rgb.map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  function contrast(a, b) {
    const x = luminance(a) + 0.05;
    const y = luminance(b) + 0.05;
    return x > y ? x / y : y / x;
  }


  function coachName() {
    return (st.coach && st.coach.name) || '';
  }

  // avatarInto: data-avatar, else the coach's avatar, else initials.
  function avatarInto(el) {
    el.textContent = '';
    const url = avatarOpt || safeURL(st.coach && st.coach.avatar_url);
    const initials = () => {
      el.textContent = (coachName() || titleOpt || t('coach')).split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0]).join('').toUpperCase();
    };
    if (!url) return initials();
    const img = document.createElement('img');
    img.alt = '';
    img.decoding = 'async';
    img.referrerPolicy = 'no-referrer';
    img.addEventListener('error', initials, { once: true });
    img.src = url;
    el.appendChild(img);
  }

  // showCoach: title, avatars, welcome, suggestions and "powered by" from the coach settings.
  function showCoach() {
    const c = Object.assign({}, st.coach, draft && draft.coach);
    titleEl.textContent = titleOpt || c.name || t('chat');
    for (const el of root.querySelectorAll('.cw-av')) avatarInto(el);
    renderMarkdown(welcomeText, (typeof c.welcome === 'string' && c.welcome.trim()) || t('welcome'), false);
    brandEl.hidden = c.branding === false;
    typingEl.setAttribute('aria-label', t('typing', { name: titleOpt || c.name || t('coach') }));
    chipsEl.textContent = '';
    const strs = (l) => (Array.isArray(l) ? l.filter((q) => typeof q === 'string' && q.trim()) : []);
    let list = strs(c.suggestions).slice(0, 4);
    if (!list.length) list = strs(c.topics).slice(0, 3).map((x) => t('about', { t: x }));
    for (const q of list) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'cw-chip';
      b.textContent = q;
      b.addEventListener('click', () => {
        send(q);
        input.focus();
      });
      chipsEl.appendChild(b);
    }
    updateEmpty();
  }

  function setCoach(c) {
    if (!c || typeof c !== 'object') return;
    const str = (v) => (typeof v === 'string' ? v : '');
    st.coach = {
      name: str(c.name), avatar_url: str(c.avatar_url), welcome: str(c.welcome),
      suggestions: Array.isArray(c.suggestions) ? c.suggestions.map(str) : [],
      topics: Array.isArray(c.topics) ? c.topics.map(str) : [], branding: c.branding !== false,
      source_urls: c.source_urls && typeof c.source_urls === 'object' ? c.source_urls : {},
      look: c.look && typeof c.look === 'object' ? c.look : {},
    };
    safeSet(local, K_COACH, JSON.stringify(st.coach));
    applyLook();
    showCoach();
  }


  // renderMarkdown builds a safe Markdown subset node by node (never HTML strings). ">" lines
  // (document passages) are a plain-text quote, never linkified; so is a "[n] ..." line before one.
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
        q.className = 'cw-quote';
        q.textContent = quoted.join('\n');
        el.appendChild(q);
        continue;
      }
      if (CITE_RE.test(line) && i + 1 < lines.length && QUOTE_RE.test(lines[i + 1])) {
        flushPara();
        closeLists();
        const c = document.createElement('p');
        c.className = 'cw-cite';
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

  const LIST_RE = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;

  function isListItem(line) {
    return LIST_RE.test(line);
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
      if (buf) fillText(parent, buf, ctx.linkify, true);
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
          sup.className = 'cw-ref';
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

  function link(href) {
    const a = document.createElement('a');
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer nofollow';
    return a;
  }


  const ROLE_CLASS = { user: 'cw-user', assistant: 'cw-assistant cw-coach', creator: 'cw-creator cw-coach' };
  const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/g;

  function roleLabel(role) {
    return (role === 'user' ? t('you') : titleOpt || coachName() || t('coach')) + ': ';
  }

  function roleOf(r) {
    return r === 'user' || r === 'creator' ? r : 'assistant';
  }

  const QUOTE_RE = /^>[ \t]?/;
  const CITE_RE = /^\[\d+\] /;

  // Fills el with text, turning http(s) URLs into links. Text nodes only, never innerHTML.
  function fillText(el, text, linkify, append) {
    if (!append) el.textContent = '';
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
        url: str(s.url),
        document_id: str(s.document_id),
      });
    }
    return out;
  }

  // uniqueSources: each source once; refs maps the reply's [n] to the number shown.
  function uniqueSources(sources) {
    const list = [];
    const refs = {};
    const seen = new Map();
    sources.forEach((s, i) => {
      const k = (s.document_id || s.title) + '\u0000' + s.heading + '\u0000' + (s.page == null ? '' : s.page);
      if (!seen.has(k)) {
        list.push(s);
        seen.set(k, list.length);
      }
      refs[i + 1] = seen.get(k);
    });
    return { list: list, refs: refs };
  }

  function renderSources(list) {
    const d = document.createElement('details');
    d.className = 'cw-srcs';
    const sum = document.createElement('summary');
    sum.textContent = list.length === 1 ? t('source1') : t('sources', { n: list.length });
    d.appendChild(sum);
    const ol = document.createElement('ol');
    ol.className = 'cw-sources';
    list.forEach((s, i) => {
      const li = document.createElement('li');
      li.className = 'cw-source';
      if (s.document_id) li.setAttribute('data-document-id', s.document_id);
      const num = document.createElement('span');
      num.className = 'cw-source-num';
      num.textContent = String(i + 1);
      li.appendChild(num);
      const body = document.createElement('span');
      const href = safeURL(s.url || (st.coach && st.coach.source_urls && st.coach.source_urls[s.document_id]));
      const tl = href ? link(href) : document.createElement('span');
      tl.className = 'cw-source-title';
      tl.textContent = s.title || t('untitled');
      body.appendChild(tl);
      const loc = [];
      if (s.heading) loc.push(s.heading);
      if (s.page != null) loc.push(t('page', { n: s.page }));
      if (loc.length) {
        const l = document.createElement('span');
        l.className = 'cw-source-loc';
        l.textContent = loc.join(', ');
        body.appendChild(l);
      }
      li.appendChild(body);
      ol.appendChild(li);
    });
    d.appendChild(ol);
    d.addEventListener('toggle', () => { // opened: show the whole list
      const over = d.open ? d.closest('.cw-msg').getBoundingClientRect().bottom + 8 - scroller.getBoundingClientRect().bottom : 0;
      if (over > 0) setScroll(scroller.scrollTop + over);
    });
    return d;
  }

  function clock(ms) {
    try {
      return new Date(ms).toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
    } catch (e) {
      return '';
    }
  }

  // messageRow: avatar (coach), bubble, and a meta line (time, sending state).
  function messageRow(role, cls) {
    const el = document.createElement('div');
    el.className = 'cw-msg ' + ROLE_CLASS[role] + (cls ? ' ' + cls : '');
    const who = document.createElement('span');
    who.className = 'cw-who cw-sr';
    who.textContent = roleLabel(role);
    el.appendChild(who);
    if (role !== 'user') {
      const av = document.createElement('span');
      av.className = 'cw-av';
      av.setAttribute('aria-hidden', 'true');
      avatarInto(av);
      el.appendChild(av);
    }
    const col = document.createElement('div');
    col.className = 'cw-col';
    const body = document.createElement('div');
    body.className = 'cw-body';
    const text = document.createElement('div');
    text.className = 'cw-text';
    body.appendChild(text);
    col.appendChild(body);
    const meta = document.createElement('div');
    meta.className = 'cw-meta';
    col.appendChild(meta);
    el.appendChild(col);
    return { el: el, body: body, text: text, meta: meta };
  }

  function messageElement(m) {
    const r = messageRow(m.role, m.pending ? 'cw-pending' : '');
    const el = r.el;
    el.setAttribute('data-id', m.id);
    if (m.seq != null) el.setAttribute('data-seq', String(m.seq));
    if (m.role === 'user') {
      fillText(r.text, m.text, false);
    } else {
      const u = uniqueSources(m.sources);
      renderMarkdown(r.text, m.text, true, u.refs);
      if (u.list.length) r.body.appendChild(renderSources(u.list));
    }
    m.el = el;
    m.metaEl = r.meta;
    renderMeta(m);
    return el;
  }

  // renderMeta: time, and sending… / waiting for connection… / not sent — retry.
  function renderMeta(m) {
    const meta = m.metaEl;
    if (!meta) return;
    meta.textContent = '';
    if (m.at) {
      const tm = document.createElement('time');
      tm.dateTime = new Date(m.at).toISOString();
      tm.textContent = clock(m.at);
      meta.appendChild(tm);
    }
    m.el.classList.toggle('cw-failed', !!m.failed);
    if (!m.pending) return;
    if (m.failed) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'cw-retry';
      b.textContent = t('notsent');
      b.addEventListener('click', () => retryNow(m));
      meta.appendChild(b);
      return;
    }
    const s = document.createElement('span');
    s.className = 'cw-sending';
    s.textContent = online() ? t('sending') : t('waiting');
    meta.appendChild(s);
  }

  // Marks a message the server never confirmed, with a button to try again.
  function showNotSent(m) {
    m.failed = true;
    if (m.el) renderMeta(m);
  }

  function clearNotSent(m) {
    m.failed = false;
    if (m.el) renderMeta(m);
  }


  // Stick to the bottom only while the person is there; follow a new reply no further than its start.
  let following = null; // the reply being followed, or null
  let userAt = 0; // when the person last used wheel, touch, keys or mouse on the list

  function nearBottom(px) {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < (px || 60);
  }

  function setScroll(top) {
    const max = scroller.scrollHeight - scroller.clientHeight;
    top = Math.max(0, Math.min(max, top));
    if (Math.abs(scroller.scrollTop - top) >= 1) scroller.scrollTop = top;
  }

  function scrollToBottom() {
    following = null;
    setScroll(scroller.scrollHeight);
    updatePill();
  }

  // follow keeps el (a reply) in view: to the bottom while it fits, else its start at the top.
  function follow(el) {
    if (!el || following !== el) return;
    setScroll(Math.min(scroller.scrollHeight - scroller.clientHeight, el.offsetTop - 12));
    updatePill();
  }

  // arrived places a new element: followed when the person was at the bottom, else the pill.
  function arrived(el, wasAtBottom) {
    if (wasAtBottom) {
      following = el;
      follow(el);
    } else {
      pillWanted = true;
    }
    updatePill();
  }

  let pillWanted = false;
  function updatePill() {
    if (nearBottom()) pillWanted = false;
    pill.hidden = !pillWanted && !(following && !nearBottom());
  }

  // Only the person's own scrolling stops the following (content changes scroll too).
  for (const ev of ['wheel', 'touchmove', 'keydown', 'mousedown']) {
    scroller.addEventListener(ev, (e) => {
      if (ev[0] === 'w' || ev[0] === 't' || e.target === scroller) userAt = Date.now(); // not a click on a button
    }, { passive: true });
  }
  scroller.addEventListener('scroll', () => {
    if (Date.now() - userAt < 1000) following = null;
    updatePill();
  }, { passive: true });

  pill.addEventListener('click', () => {
    scroller.scrollTo({ top: scroller.scrollHeight, behavior: 'smooth' });
    following = null;
    pillWanted = false;
    pill.hidden = true;
    input.focus({ preventScroll: true });
  });

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
    chipsEl.hidden = log.children.length > 0 || !chipsEl.children.length;
  }

  function online() {
    return navigator.onLine !== false;
  }

  function setStatus(s) {
    if (st.status === s) return;
    st.status = s;
    statusEl.textContent = t(s === 'blocked' ? 'offline' : s);
    statusEl.setAttribute('data-state', s);
    updateBanner();
    notify();
  }

  // The offline banner follows the browser's offline signal as well as the socket.
  function updateBanner() {
    const off = !online() || (st.status === 'offline' && wanted && pendingMessages().length > 0);
    bannerEl.textContent = t('offlineBanner');
    bannerEl.hidden = !off;
    for (const m of pendingMessages()) renderMeta(m);
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
    const was = nearBottom();
    st.typing = !!on;
    typingEl.hidden = !on;
    if (on) {
      typingTimer = setTimeout(() => setTyping(false), TYPING_TIMEOUT_MS);
      if (was) setScroll(scroller.scrollHeight);
    }
  }

  function setUnread(n) {
    st.unread = n;
    unreadEl.hidden = n === 0;
    unreadEl.textContent = n > 9 ? '9+' : String(n);
    bubble.setAttribute('aria-label', st.open ? t('close') : n ? t('open') + ', ' + t('unread', { n: n }) : t('open'));
  }

  function notify() {
    try {
      host.dispatchEvent(new CustomEvent('coachwire:change'));
    } catch (e) { /* ignore */ }
  }


  // A coach message while the page is hidden: title flash (and data-sound tone) until back.
  let flashTimer = 0;
  let savedTitle = '';
  let audio = null;

  function attention() {
    if (!st.ready || document.visibilityState !== 'hidden') return;
    st.alerts++;
    if (flashOpt && !flashTimer) {
      savedTitle = document.title;
      let on = false;
      flashTimer = setInterval(() => {
        on = !on;
        document.title = on ? '\u2022 ' + t('newmsg') + ' \u2014 ' + (titleOpt || coachName() || t('chat')) : savedTitle;
      }, 1000);
    }
    if (soundOpt) beep();
  }

  function stopAttention() {
    if (!flashTimer) return;
    clearInterval(flashTimer);
    flashTimer = 0;
    document.title = savedTitle;
  }

  function beep() {
    try {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return;
      audio = audio || new AC();
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = 880;
      g.gain.setValueAtTime(0.0001, audio.currentTime);
      g.gain.exponentialRampToValueAtTime(0.15, audio.currentTime + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
      o.connect(g).connect(audio.destination);
      o.start();
      o.stop(audio.currentTime + 0.4);
    } catch (e) { /* no audio */ }
  }


  function addMessage(m, opts) {
    const atBottom = nearBottom() || (opts && opts.scroll);
    const el = messageElement(m);
    if (opts && opts.replace) {
      log.replaceChild(el, opts.replace);
      if (following === opts.replace) following = el;
    } else {
      insertBySeq(el, m.seq);
    }
    st.messages.set(m.id, m);
    if (m.serverId) st.messages.set(m.serverId, m);
    updateEmpty();
    if (opts && opts.restore) return;
    if (opts && opts.scroll) scrollToBottom();
    else if (opts && opts.replace) follow(el);
    else if (el === log.lastElementChild) arrived(el, atBottom);
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
      at: m.at || undefined,
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
        at: typeof r.at === 'number' ? r.at : 0,
        el: null,
      }, { restore: true });
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
    for (const m of keep) addMessage(m, { restore: true });
    updateEmpty();
    persist();
  }

  function toSeq(v) {
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    return typeof n === 'number' && isFinite(n) ? n : null;
  }


  function httpError(status, message, code) {
    const e = new Error(message || 'HTTP ' + status);
    e.status = status;
    e.serverMessage = message || '';
    e.code = code || '';
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
      let code = '';
      try {
        let j = await res.json(); // {"error": {"code", "message"}}
        j = j && j.error && typeof j.error === 'object' ? j.error : j || {};
        msg = typeof j.message === 'string' ? j.message : '';
        code = typeof j.code === 'string' ? j.code : '';
      } catch (e) { /* not JSON */ }
      throw httpError(res.status, msg, code);
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
    setCoach(j.coach);
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

  // The person sees a sentence in their language; the server's message goes to the console.
  function sessionErrorText(e) {
    const s = e && e.status;
    if (s === 401 || s === 403) return t('blocked');
    if (s === 404) return t('notfound');
    if (s === 429) return t('busy');
    return t('unreachable');
  }

  // block stops for good on an origin the creator has not allowed (retrying cannot help).
  function block(e) {
    st.blocked = location.origin;
    wanted = false;
    clearTimeout(reconnectTimer);
    reconnectTimer = 0;
    console.error('coachwire: this page\'s origin ' + location.origin + ' is not in the widget\'s allowed origins, so the chat ' +
      'is off here. Add ' + location.origin + ' to the widget setting allowed_origins (PATCH /api/v1/widget/settings).');
    showError(t('blocked'), 'origin_not_allowed', 'session');
    setStatus('blocked');
  }


  function ensureConnected() {
    if (st.blocked) return;
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
    if (!online()) return setStatus('offline'); // the browser's online event reconnects
    connecting = true;
    setStatus('connecting');
    try {
      if (!sessionValid()) await getSession();
    } catch (e) {
      connecting = false;
      if (e && e.code === 'origin_not_allowed') return block(e);
      if (e && e.serverMessage) console.warn('coachwire: widget session refused (' + e.status + '): ' + e.serverMessage);
      if (online()) showError(sessionErrorText(e), e && e.status ? 'session_' + e.status : 'session', 'session');
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
      if (ev.code === 1009) showError(t('too_large'), 'too_large', 'connection');
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

  function shownSeq() {
    let max = 0;
    for (const m of orderedMessages()) {
      if (m.role !== 'user' && m.seq != null && m.seq > max) max = m.seq;
    }
    return max;
  }

  // Reports the highest seq shown while open and visible (messages become read), at most 1/s.
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

  // Not confirmed (maybe stored): resend with the same id (deduplicated) with backoff; not sent after RETRY_GIVE_UP_MS.
  function onNotConfirmed(m) {
    if (!m.pending) return;
    const now = Date.now();
    if (!m.firstTry) m.firstTry = m.sentAt || now;
    stopRetry(m);
    if (now - m.firstTry >= RETRY_GIVE_UP_MS) {
      showNotSent(m);
      showError(t('not_sent'), 'not_sent', 'server');
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
      case 'ready':
        st.ready = true;
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
    m.failed = false;
    if (m.el) {
      m.el.classList.remove('cw-pending', 'cw-failed');
      renderMeta(m);
    }
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
    const r = messageRow('assistant', 'cw-draft');
    const el = r.el;
    el.classList.remove('cw-assistant'); // a draft is not a reply yet
    el.setAttribute('data-turn', key);
    el.setAttribute('aria-busy', 'true');
    const stick = nearBottom();
    log.appendChild(el);
    updateEmpty();
    arrived(el, stick);
    const d = { turn: turn, key: key, el: el, textEl: r.text, text: '', done: '', tail: null, stale: false, touched: Date.now() };
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
    d.text += piece;
    renderDraft(d);
    d.touched = Date.now();
    follow(d.el);
  }

  // renderDraft: complete lines as Markdown, the line being written as plain text.
  function renderDraft(d) {
    const cut = d.text.lastIndexOf('\n');
    if (cut >= 0 && /^\s*([-*+]|\d{1,9}[.)]|#{1,6})\s/.test(d.text.slice(cut + 1))) {
      d.done = d.tail = null; // a list item or heading being written: render it as one
      renderMarkdown(d.textEl, d.text, true);
      return caret(d.textEl);
    }
    const done = cut < 0 ? '' : d.text.slice(0, cut);
    if (done !== d.done || !d.tail) {
      d.done = done;
      renderMarkdown(d.textEl, done, true);
      d.tail = document.createTextNode('');
      d.textEl.appendChild(d.tail);
      caret(d.textEl);
    }
    d.tail.data = d.text.slice(cut + 1);
  }

  // caret puts the typing cursor at the end of the innermost last block.
  function caret(el) {
    while (el.lastChild && /^(P|UL|OL|LI|H3|H4)$/.test(el.lastChild.nodeName)) el = el.lastChild;
    const c = document.createElement('span');
    c.className = 'cw-caret';
    el.appendChild(c);
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
    const at = f.created_at ? Date.parse(f.created_at) : NaN;
    const m = {
      id: f.id != null ? String(f.id) : seq != null ? 'seq-' + seq : uuid(),
      serverId: null,
      seq: seq,
      role: role,
      text: text,
      sources: normSources(f.sources),
      replyTo: f.reply_to == null ? null : f.reply_to,
      pending: false,
      at: isFinite(at) ? at : Date.now(),
      el: null,
    };
    const d = role === 'assistant' ? takeDraft(f, text) : null;
    addMessage(m, d ? { replace: d.el } : null);
    if (role !== 'user') {
      setTyping(false);
      if (!st.open) setUnread(st.unread + 1);
      attention();
    }
    sweepDrafts();
    return true;
  }

  function onError(f) {
    const code = f.code == null ? '' : String(f.code);
    if (code === 'bad_seq') return; // a seen frame the server refused: nothing for the person to do
    if (code === 'retry') {
      // Not confirmed (not refused): resend by ourselves, the message stays pending.
      const m = f.id == null ? null : st.messages.get(String(f.id));
      if (m) onNotConfirmed(m);
      return;
    }
    const known = ['rate_limited', 'too_large', 'unauthorized', 'internal'].indexOf(code) >= 0;
    const text = known ? t(code) : (typeof f.message === 'string' && f.message) || t('internal');
    showError(text, code, 'server');
    if (code === 'rate_limited') scheduleResend(RESEND_AFTER_RATE_LIMIT_MS);
    if (code === 'unauthorized' || code === 'token_expired' || code === 'session_expired') st.session = null;
    if (f.id != null) {
      const m = st.messages.get(String(f.id));
      if (m && m.pending && m.el && code !== 'rate_limited') showNotSent(m);
    }
    if (f.turn != null) {
      const d = st.drafts.get(String(f.turn));
      if (d) removeDraft(d);
    }
    setTyping(false);
  }


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
      showError(t('too_large'), 'too_large', 'local');
      return null;
    }
    if (st.error && st.error.source !== 'session' && st.error.source !== 'connection') clearError();
    const m = {
      id: id, serverId: null, seq: null, role: 'user', text: text,
      sources: [], replyTo: null, pending: true, at: Date.now(), el: null,
    };
    addMessage(m, { scroll: true });
    persist();
    ensureConnected();
    if (sendFrame(frame)) m.sentAt = Date.now();
    updateBanner();
    notify();
    return id;
  }

  function openPanel() {
    if (!st.open) {
      st.open = true;
      panel.hidden = false;
      rootEl.setAttribute('data-open', '');
      bubble.setAttribute('aria-expanded', 'true');
      setUnread(0);
      setScroll(scroller.scrollHeight);
      notify();
    }
    stopAttention();
    ensureConnected();
    reportSeen();
    try { input.focus({ preventScroll: true }); } catch (e) { input.focus(); }
  }

  function closePanel() {
    if (!st.open) return;
    const hadFocus = root.activeElement != null && panel.contains(root.activeElement);
    st.open = false;
    panel.hidden = true;
    rootEl.removeAttribute('data-open');
    bubble.setAttribute('aria-expanded', 'false');
    setUnread(st.unread);
    if (hadFocus) bubble.focus();
    notify();
  }

  function autosize() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 2, 140) + 'px';
  }

  // Tab and Shift+Tab stay inside the open panel (Escape closes it).
  function focusables() {
    return Array.from(panel.querySelectorAll('button,textarea,a[href],summary,[tabindex="0"]'))
      .filter((el) => !el.disabled && el.getClientRects().length > 0);
  }

  bubble.addEventListener('click', () => (st.open ? closePanel() : openPanel()));
  closeBtn.addEventListener('click', closePanel);
  errorClose.addEventListener('click', () => clearError());
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      closePanel();
      return;
    }
    if (e.key !== 'Tab') return;
    const list = focusables();
    if (!list.length) return;
    const first = list[0];
    const last = list[list.length - 1];
    const active = root.activeElement;
    if (e.shiftKey && (active === first || !panel.contains(active))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (active === last || !panel.contains(active))) {
      e.preventDefault();
      first.focus();
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
  // The on-screen keyboard shrinks the visual viewport only (iOS): the panel ends above it.
  const vv = window.visualViewport;
  if (vv) vv.addEventListener('resize', () => { panel.style.maxHeight = vv.height + 'px'; });

  window.addEventListener('online', () => {
    updateBanner();
    connectNow();
  });
  // The browser says it is offline: the socket is as good as gone, close it now (the
  // waiting messages are resent by the next one).
  window.addEventListener('offline', () => {
    if (ws) ws.close();
    updateBanner();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      stopAttention();
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
      lang: lang,
      conversation_id: st.conversationId,
      end_user_id: st.endUserId,
      last_seq: st.lastSeq,
      seen_seq: seenSent,
      coach: st.coach ? Object.assign({}, st.coach) : null,
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
      offline: !bannerEl.hidden,
      blocked: st.blocked,
      retrying: !!reconnectTimer,
      alerts: st.alerts,
    };
  }

  function render(text) {
    const el = document.createElement('div');
    el.className = 'cw-text';
    renderMarkdown(el, text == null ? '' : String(text), true);
    return el;
  }

  // The console's live preview (docs/widget.md "Preview").
  function preview(d) {
    if (!d || typeof d !== 'object') return;
    const c = d.coach && typeof d.coach === 'object' ? d.coach : {};
    const str = (v) => (typeof v === 'string' ? v : undefined);
    draft = { coach: {} };
    for (const k of ['color', 'position', 'theme', 'lang', 'launcher-text']) if (typeof d[k] === 'string') draft[k] = d[k];
    for (const k of ['name', 'avatar_url', 'welcome']) if (str(c[k]) !== undefined) draft.coach[k] = c[k];
    if (Array.isArray(c.suggestions)) draft.coach.suggestions = c.suggestions.filter((q) => typeof q === 'string');
    if (typeof c.branding === 'boolean') draft.coach.branding = c.branding;
    applyLook();
    showCoach();
    notify();
  }

  window.coachwire = Object.freeze({
    __coachwire: true,
    version: 2,
    preview: previewOpt ? preview : undefined,
    open: openPanel,
    close: closePanel,
    toggle: () => (st.open ? closePanel() : openPanel()),
    send: send,
    state: state,
    render: render,
  });


  function start() {
    (document.body || document.documentElement).appendChild(host);
    statusEl.textContent = t('offline');
    showCoach();
    restore();
    updateEmpty();
    updateBanner();
    setUnread(0);
    if (startOpen) openPanel();
    else if (log.children.length) ensureConnected(); // continue a conversation after a reload
  }

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start, { once: true });
})();
