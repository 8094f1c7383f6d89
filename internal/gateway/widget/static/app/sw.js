// coachwire app service worker (docs/app.md), scope /a/<slug>/. It keeps the app's shell in the
// cache (the page, its script and style sheet, the manifest and the icons) so the app opens
// offline; the recent conversation and the outbox live in the page's IndexedDB. It shows the
// coach's pushed messages as notifications, except while the person is looking at that
// conversation, and a tap focuses the app (showing its chat) or opens it.
'use strict';

const CACHE = 'coachwire-app-v1';
const scope = self.registration.scope; // https://host/a/<slug>/
const SHELL = ['', 'app.js', 'app.css', 'manifest.webmanifest', 'icons/192.png', 'icons/512.png', 'icons/apple-touch-icon.png'];
// The conversation each window shows (the page tells it after its session starts).
const conversations = new Map();

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL.map((p) => scope + p))).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith('coachwire-app-') && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// The shell: network first (a new release shows at once), the cached copy when offline. Nothing
// else is cached: the API and the socket are never served stale.
self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || !req.url.startsWith(scope)) return;
  const path = req.url.slice(scope.length).split('?')[0].split('#')[0];
  const isShell = req.mode === 'navigate' || SHELL.indexOf(path) >= 0 || path.startsWith('icons/');
  if (!isShell) return;
  event.respondWith(fetch(req).then((res) => {
    if (res.ok) {
      // The cache's update is part of the event, so the worker is not stopped halfway through it.
      const copy = res.clone();
      event.waitUntil(caches.open(CACHE).then((c) => c.put(req.mode === 'navigate' ? scope : req, copy)).catch(() => {}));
    }
    return res;
  }).catch(() => caches.match(req.mode === 'navigate' ? scope : req, { ignoreSearch: true })
    .then((hit) => hit || new Response('Offline', { status: 503, headers: { 'Content-Type': 'text/plain' } }))));
});

self.addEventListener('message', (event) => {
  const d = event.data;
  if (d && d.type === 'conversation' && event.source && event.source.id) conversations.set(event.source.id, String(d.conversation_id || ''));
});

// inScope is the push's url when it is in the app, else the app's start.
function inScope(u) {
  try {
    const abs = new URL(String(u || ''), scope).href;
    return abs.startsWith(scope) ? abs : scope;
  } catch (e) {
    return scope;
  }
}

// A push's payload is {title, body, conversation_id, seq, url} (the app channel's contract).
self.addEventListener('push', (event) => {
  let p = {};
  try {
    p = event.data ? event.data.json() : {};
  } catch (e) {
    p = { body: event.data ? event.data.text() : '' };
  }
  event.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((wins) => {
    const looking = wins.some((w) => w.url.startsWith(scope) && w.visibilityState === 'visible' && w.focused &&
      (!p.conversation_id || !conversations.has(w.id) || conversations.get(w.id) === String(p.conversation_id)));
    if (looking) {
      // The open app shows the message itself; told of it, it reconnects if its socket is down.
      for (const w of wins) if (w.url.startsWith(scope)) w.postMessage({ type: 'push', conversation_id: p.conversation_id || null, seq: p.seq || null });
      return null;
    }
    return self.registration.showNotification(p.title || 'New message', {
      body: p.body || '',
      tag: p.conversation_id ? 'conversation-' + p.conversation_id : undefined,
      renotify: !!p.conversation_id,
      icon: scope + 'icons/192.png',
      badge: scope + 'icons/192.png',
      data: { url: inScope(p.url), conversation_id: p.conversation_id || null, seq: p.seq || null },
    });
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || scope;
  event.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((wins) => {
    // The app already open: focus it and tell it to show the chat, where the message is.
    for (const w of wins) {
      if (w.url.startsWith(scope) && 'focus' in w) {
        w.postMessage({ type: 'open-chat', conversation_id: (event.notification.data && event.notification.data.conversation_id) || null });
        return w.focus();
      }
    }
    return self.clients.openWindow(url);
  }));
});
