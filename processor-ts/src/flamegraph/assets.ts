/** The flame graph page, its script and style: served by the sidecar itself, no CDN. */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ebpf-otel flame graph</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="app.css">
</head>
<body>
<header>
  <h1>ebpf-otel</h1>
  <label>Process or service <select id="target"></select></label>
  <label>Profile <select id="type"></select></label>
  <label>Windows <select id="windows"><option>1</option><option>3</option><option selected>5</option><option>10</option></select></label>
  <input id="search" type="search" placeholder="Search (regex)" aria-label="Search">
  <button id="reset" type="button">Reset zoom</button>
  <label><input id="live" type="checkbox" checked> live</label>
</header>
<div id="status" role="status"></div>
<div id="crumbs"></div>
<div id="flame" aria-label="flame graph"></div>
<div id="details"></div>
<script src="app.js"></script>
</body>
</html>
`;

export const PAGE_CSS = `
body { font: 13px system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { display: flex; gap: 1em; align-items: center; padding: 8px 12px; background: #263238; color: #eee; flex-wrap: wrap; }
header h1 { font-size: 15px; margin: 0 1em 0 0; }
header select, header input[type=search] { font: inherit; }
#status, #crumbs, #details { padding: 4px 12px; min-height: 1.3em; }
#crumbs span { cursor: pointer; color: #1565c0; }
#flame { position: relative; margin: 0 12px; overflow: hidden; }
.frame { position: absolute; height: 17px; box-sizing: border-box; border: 1px solid #fafafa; border-radius: 2px;
  overflow: hidden; white-space: nowrap; text-overflow: ellipsis; font-size: 11px; line-height: 15px; padding: 0 3px; cursor: pointer; }
.frame.match { background: #e040fb !important; color: #fff; }
.frame.dim { opacity: .45; }
.frame:hover { border-color: #222; }
`;

export const PAGE_JS = String.raw`(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var state = { tree: null, focus: null, path: [], search: '', unit: '' };
  var ROW = 18;

  function api(path) {
    return fetch(path, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error(path + ': ' + r.status);
      return r.json();
    });
  }
  function color(name) {
    var h = 0;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    return 'hsl(' + (10 + h % 45) + ',' + (70 + h % 20) + '%,' + (55 + (h >> 8) % 15) + '%)';
  }
  function fmt(v) {
    if (state.unit === 'nanoseconds') return (v / 1e9).toFixed(3) + ' s';
    if (state.unit === 'bytes') return (v / 1048576).toFixed(2) + ' MiB';
    return String(v) + (state.unit && state.unit !== 'count' ? ' ' + state.unit : '');
  }
  function matcher() {
    if (!state.search) return null;
    try { return new RegExp(state.search, 'i'); } catch (e) { var s = state.search.toLowerCase(); return { test: function (n) { return n.toLowerCase().indexOf(s) >= 0; } }; }
  }

  function loadTargets() {
    return api('api/targets').then(function (ts) {
      var sel = $('target'), prev = sel.value;
      sel.innerHTML = '';
      ts.forEach(function (t) {
        var o = document.createElement('option');
        o.value = t.target; o.textContent = t.target; o.dataset.types = t.types.join(',');
        sel.appendChild(o);
      });
      if (prev && ts.some(function (t) { return t.target === prev; })) sel.value = prev;
      fillTypes();
      if (ts.length === 0) $('status').textContent = 'No closed windows yet.';
    });
  }
  function fillTypes() {
    var o = $('target').selectedOptions[0], sel = $('type'), prev = sel.value;
    sel.innerHTML = '';
    (o ? o.dataset.types.split(',') : []).forEach(function (t) {
      var x = document.createElement('option'); x.value = t; x.textContent = t; sel.appendChild(x);
    });
    if (prev && Array.prototype.some.call(sel.options, function (x) { return x.value === prev; })) sel.value = prev;
  }
  function loadTree(keepFocus) {
    var t = $('target').value, ty = $('type').value;
    if (!t || !ty) return Promise.resolve();
    var q = 'api/tree?target=' + encodeURIComponent(t) + '&type=' + encodeURIComponent(ty) + '&windows=' + $('windows').value;
    return api(q).then(function (r) {
      var path = keepFocus ? state.path.slice() : [];
      state.tree = r.root; state.unit = r.unit;
      state.focus = r.root; state.path = [];
      // Re-find the zoomed frame by its names.
      for (var i = 0; i < path.length; i++) {
        var next = null;
        for (var j = 0; j < state.focus.c.length; j++) if (state.focus.c[j].n === path[i]) next = state.focus.c[j];
        if (!next) break;
        state.path.push(next.n); state.focus = next;
      }
      $('status').textContent = r.windows + ' window(s), ' + new Date(r.from).toLocaleTimeString() + ' to ' + new Date(r.to).toLocaleTimeString() + ', total ' + fmt(r.root.v);
      render();
    });
  }

  function render() {
    var el = $('flame'), root = state.tree;
    el.innerHTML = '';
    if (!root) return;
    var W = el.clientWidth || 1000, focus = state.focus, m = matcher(), matched = 0;
    var frag = document.createDocumentFragment(), maxDepth = 0;
    function box(n, depth, x, w, dim) {
      var d = document.createElement('div');
      d.className = 'frame' + (dim ? ' dim' : '');
      d.style.left = x + 'px'; d.style.width = Math.max(w, 1) + 'px'; d.style.top = depth * ROW + 'px';
      d.style.background = color(n.n);
      d.textContent = w > 28 ? n.n : '';
      d.title = n.n + ' — ' + fmt(n.v) + ' (' + (100 * n.v / root.v).toFixed(2) + '%)';
      d.dataset.name = n.n;
      if (m && m.test(n.n)) d.className += ' match';
      d.addEventListener('click', function () { zoom(n, depth); });
      frag.appendChild(d);
      if (depth > maxDepth) maxDepth = depth;
      return d;
    }
    // Ancestors of the focus, full width.
    var chain = [root], node = root;
    for (var i = 0; i < state.path.length; i++) {
      for (var j = 0; j < node.c.length; j++) if (node.c[j].n === state.path[i]) { node = node.c[j]; break; }
      chain.push(node);
    }
    for (var k = 0; k < chain.length - 1; k++) box(chain[k], k, 0, W, true);
    var scale = W / focus.v;
    (function draw(n, depth, x) {
      var w = n.v * scale;
      if (w < 0.5) return;
      box(n, depth, x, w, false);
      var cx = x;
      n.c.forEach(function (c) { draw(c, depth + 1, cx); cx += c.v * scale; });
    })(focus, chain.length - 1, 0);
    if (m) matched = matchedIn(focus, m);
    el.style.height = (maxDepth + 1) * ROW + 'px';
    el.appendChild(frag);
    $('details').textContent = m ? 'Matched: ' + fmt(matched) + ' (' + (100 * matched / focus.v).toFixed(2) + '% of view)' : '';
    var crumbs = $('crumbs');
    crumbs.innerHTML = '';
    chain.forEach(function (n, idx) {
      var s = document.createElement('span'); s.textContent = n.n;
      s.addEventListener('click', function () { state.path = state.path.slice(0, idx); state.focus = n; render(); });
      crumbs.appendChild(s);
      if (idx < chain.length - 1) crumbs.appendChild(document.createTextNode(' › '));
    });
  }
  function matchedIn(n, m) {
    if (m.test(n.n)) return n.v;
    var t = 0; n.c.forEach(function (c) { t += matchedIn(c, m); }); return t;
  }
  function zoom(n) {
    // The path from the root to n, by identity.
    var path = [];
    (function find(p, acc) {
      if (p === n) { path = acc.slice(); return true; }
      for (var i = 0; i < p.c.length; i++) { acc.push(p.c[i].n); if (find(p.c[i], acc)) return true; acc.pop(); }
      return false;
    })(state.tree, []);
    state.path = path; state.focus = n; render();
  }

  $('target').addEventListener('change', function () { fillTypes(); loadTree(false); });
  $('type').addEventListener('change', function () { loadTree(false); });
  $('windows').addEventListener('change', function () { loadTree(true); });
  $('search').addEventListener('input', function (e) { state.search = e.target.value; render(); });
  $('reset').addEventListener('click', function () { state.path = []; state.focus = state.tree; render(); });
  window.addEventListener('resize', render);
  loadTargets().then(function () { return loadTree(false); }).catch(function (e) { $('status').textContent = String(e); });
  setInterval(function () {
    if (!$('live').checked) return;
    loadTargets().then(function () { return loadTree(true); }).catch(function () {});
  }, 5000);
})();
`;
