/*! coachwire widget preview: the page the console frames beside the Coach & widget form
 * (docs/widget.md "Preview"). The console posts {type: "coachwire:preview", widget_key, draft}
 * from the same origin; the first message loads the real /widget.js with data-preview, every
 * message hands the draft to window.coachwire.preview. No inline script or style (CSP). */
(function () {
  'use strict';
  var loading = false;
  var pending = null;

  // The page's own look, through CSSOM (a constructable sheet is not inline style).
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync('body{margin:0;font:16px/1.6 system-ui,sans-serif;color:#1f2328;background:#f6f7f9;}' +
      'main{max-width:36rem;padding:1.5rem;}h1{font-size:1.4rem;margin:0 0 .5rem;}p{color:#4a5565;margin:0;}');
    document.adoptedStyleSheets = [sheet];
  } catch (e) { /* unstyled */ }

  function apply() {
    if (pending && window.coachwire && typeof window.coachwire.preview === 'function') {
      window.coachwire.preview(pending);
      pending = null;
    }
  }

  window.addEventListener('message', function (e) {
    if (e.origin !== window.location.origin || e.source !== window.parent) return;
    var m = e.data;
    if (!m || m.type !== 'coachwire:preview' || typeof m.widget_key !== 'string' || !m.widget_key) return;
    pending = m.draft && typeof m.draft === 'object' ? m.draft : {};
    if (!loading) {
      loading = true;
      var s = document.createElement('script');
      s.src = '/widget.js';
      s.setAttribute('data-widget-key', m.widget_key);
      s.setAttribute('data-preview', 'true');
      s.setAttribute('data-open', 'true');
      s.addEventListener('load', function () {
        apply();
        window.parent.postMessage({ type: 'coachwire:preview-ready' }, window.location.origin);
      });
      document.body.appendChild(s);
    }
    apply();
  });
  window.parent.postMessage({ type: 'coachwire:preview-loaded' }, window.location.origin);
})();
