// Vitrine's page script, beside the app's bundle: copy buttons, times in the reader's time
// zone, and "/" to the page's filter. Every page works without it.
(function () {
  'use strict';

  // A button with data-copy copies its value: through the clipboard API where the page may
  // use it (https, localhost), else by selecting the value beside it and asking the browser
  // to copy the selection; when neither works, the value stays selected for Ctrl+C.
  function copy(button) {
    var value = button.getAttribute('data-copy');
    // A link on this site is copied whole, as it is shared.
    if (value.charAt(0) === '/') value = new URL(value, document.baseURI).href;
    var label = button.getAttribute('data-label') || button.textContent;
    button.setAttribute('data-label', label);
    function said(text) {
      button.textContent = text;
      setTimeout(function () { button.textContent = label; }, 2500);
    }
    // Without the clipboard API (a page over plain http on a LAN address): the value is put in
    // a text area of its own, selected and copied by the browser's copy command; where even
    // that is refused, the value shown beside the button is left selected for Ctrl+C.
    function bySelection() {
      var area = document.createElement('textarea');
      area.value = value;
      area.setAttribute('readonly', '');
      area.style.position = 'fixed';
      area.style.opacity = '0';
      document.body.appendChild(area);
      area.select();
      var copied = false;
      try { copied = document.execCommand('copy'); } catch (e) { copied = false; }
      document.body.removeChild(area);
      if (copied) return said('Copied');
      var shown = button.parentNode && button.parentNode.querySelector('code, a');
      if (shown) {
        var range = document.createRange();
        range.selectNodeContents(shown);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      }
      said('Selected: press Ctrl+C');
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(function () { said('Copied'); }, bySelection);
    } else {
      bySelection();
    }
  }

  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('button[data-copy]');
    if (button) {
      event.preventDefault();
      copy(button);
    }
  });

  // <time datetime="...Z">2026-12-08 09:30 UTC</time>, as the server wrote it, is shown in
  // the reader's zone with how long ago ("3 h ago"), the full time on hover.
  var relative = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' }) : null;
  function ago(ms) {
    var s = Math.round(ms / 1000), a = Math.abs(s);
    if (!relative) return '';
    if (a < 60) return relative.format(-s, 'second');
    if (a < 3600) return relative.format(-Math.round(s / 60), 'minute');
    if (a < 86400) return relative.format(-Math.round(s / 3600), 'hour');
    if (a < 86400 * 45) return relative.format(-Math.round(s / 86400), 'day');
    return '';
  }
  function localise(el) {
    var at = new Date(el.getAttribute('datetime'));
    if (isNaN(at.getTime()) || el.getAttribute('data-local') === el.getAttribute('datetime')) return;
    var full = at.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    var since = ago(Date.now() - at.getTime());
    var text = since ? since : full;
    var node = el.firstChild;
    // The text node is changed in place: a page the app renders keeps its own node.
    if (node && node.nodeType === 3) { node.data = text; } else { el.textContent = text; }
    el.title = full;
    el.setAttribute('data-local', el.getAttribute('datetime'));
  }
  function localiseAll(root) {
    var times = (root.querySelectorAll ? root : document).querySelectorAll('time[datetime]');
    for (var i = 0; i < times.length; i++) localise(times[i]);
  }
  function start() {
    localiseAll(document);
    // Pages the app renders in the browser later (following a link) bring new times.
    new MutationObserver(function (changes) {
      for (var i = 0; i < changes.length; i++) {
        var added = changes[i].addedNodes;
        for (var j = 0; j < added.length; j++) {
          var n = added[j];
          if (n.nodeType !== 1) continue;
          if (n.matches('time[datetime]')) localise(n); else localiseAll(n);
        }
      }
    }).observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();

  // "/" focuses the page's filter, unless one is typing somewhere already.
  document.addEventListener('keydown', function (event) {
    if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
    var t = event.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var filter = document.querySelector('input[type="search"]');
    if (filter) {
      event.preventDefault();
      filter.focus();
    }
  });
})();
