// "Orders to place": the order suggestions of the selected product group as a sortable table, and
// the same rows as a CSV file (every column of mart_purchase_suggestions the page embeds).
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('dashboard-data').textContent);
  var O = D.orders, ROWS_SHOWN = 500, csvUrl = null;
  var table = document.getElementById('orders-table');
  if (!O || !table) { window.ordersReady = true; return; }
  var GROUP = O.columns.indexOf('product_group'), STATUS = O.columns.indexOf('order_status');
  var STATUS_RANK = {order: 0, review: 1, no_order: 2};
  var sort = {column: -1, descending: false};  // -1: the order of the mart (to order first, largest value first)

  function fmt(x, digits) {
    return Number(x).toLocaleString('en-US', {maximumFractionDigits: digits, minimumFractionDigits: digits});
  }
  function cell(value, kind) {
    if (value === null || value === undefined || value === '') { return ''; }
    if (kind === 'text') { return String(value); }
    if (kind === 'money') { return fmt(value, 0); }
    return Math.abs(value) < 10 && Math.round(value) !== value ? fmt(value, 1) : fmt(value, 0);
  }
  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function slug(text) { return String(text).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'all'; }
  function csvCell(v) {
    if (v === null || v === undefined) { return ''; }
    var s = String(v);
    if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) { s = "'" + s; }  // no formulas in a spreadsheet
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function empty(v) { return v === null || v === undefined || v === ''; }
  function compare(a, b, column) {
    var x = a[column], y = b[column];
    if (empty(x) || empty(y)) { return empty(x) === empty(y) ? 0 : (empty(x) ? 1 : -1); }  // blanks last
    if (column === STATUS) { return STATUS_RANK[x] - STATUS_RANK[y]; }
    if (O.kinds[column] === 'text') { return String(x).localeCompare(String(y)); }
    return x - y;
  }
  function selectedRows(group) {
    var rows = O.rows.filter(function (r) { return group === 'all' || r[GROUP] === group; });
    if (sort.column >= 0) {
      rows = rows.map(function (r, i) { return [r, i]; });
      rows.sort(function (a, b) {
        var c = compare(a[0], b[0], sort.column);
        // blanks stay last whatever the direction; ties keep the mart's order
        var blank = empty(a[0][sort.column]) || empty(b[0][sort.column]);
        return (c !== 0 ? (sort.descending && !blank ? -c : c) : a[1] - b[1]);
      });
      rows = rows.map(function (pair) { return pair[0]; });
    }
    return rows;
  }
  function show() {
    var group = document.getElementById('orders-group').value;
    var rows = selectedRows(group);
    var head = '<tr>' + O.labels.map(function (label, i) {
      var mark = i === sort.column ? (sort.descending ? ' \u25bc' : ' \u25b2') : '';
      var state = i === sort.column ? (sort.descending ? 'descending' : 'ascending') : 'none';
      return '<th class="' + (O.kinds[i] === 'text' ? 'sortable' : 'sortable num') + '" data-column="' + i +
        '" aria-sort="' + state + '" title="sort by ' + esc(label) + '">' + esc(label) + mark + '</th>';
    }).join('') + '</tr>';
    var body = rows.slice(0, ROWS_SHOWN).map(function (r) {
      return '<tr class="status-' + esc(r[STATUS] || '') + '">' + r.map(function (v, i) {
        return '<td' + (O.kinds[i] === 'text' ? (O.columns[i] === 'reason' ? ' class="reason"' : '') : ' class="num"') +
          '>' + esc(cell(v, O.kinds[i])) + '</td>';
      }).join('') + '</tr>';
    }).join('');
    table.innerHTML = '<thead>' + head + '</thead><tbody>' + body + '</tbody>';
    var label = group === 'all' ? 'All groups' : group;
    document.getElementById('orders-current').textContent = label;
    var toOrder = rows.filter(function (r) { return r[STATUS] === 'order'; }).length;
    var review = rows.filter(function (r) { return r[STATUS] === 'review'; }).length;
    var note = fmt(rows.length, 0) + ' product' + (rows.length === 1 ? '' : 's') + ': ' + fmt(toOrder, 0) +
      ' to order, ' + fmt(review, 0) + ' to review';
    if (rows.length > ROWS_SHOWN) { note += '; the first ' + ROWS_SHOWN + ' shown, the CSV has all ' + fmt(rows.length, 0); }
    if (O.n_total > O.rows.length) {
      note += '. The page holds ' + fmt(O.rows.length, 0) + ' of ' + fmt(O.n_total, 0) +
        ' products (those to order and review first); exports/purchase_suggestions.csv has every product';
    }
    document.getElementById('orders-note').textContent = note + '.';
    var csv = [O.columns].concat(rows).map(function (r) { return r.map(csvCell).join(','); }).join('\r\n') + '\r\n';
    var link = document.getElementById('orders-csv');
    if (csvUrl) { URL.revokeObjectURL(csvUrl); }
    csvUrl = URL.createObjectURL(new Blob(['\ufeff' + csv], {type: 'text/csv;charset=utf-8'}));
    link.href = csvUrl;
    link.download = 'orders_' + slug(label) + '_as-of-' + (O.as_of || '').slice(0, 7) + '.csv';
    link.textContent = 'Download CSV: ' + label + ' (' + fmt(rows.length, 0) + ' products)';
  }

  document.getElementById('orders-group').addEventListener('change', show);
  table.addEventListener('click', function (event) {
    var th = event.target.closest ? event.target.closest('th[data-column]') : null;
    if (!th) { return; }
    var column = Number(th.getAttribute('data-column'));
    // numbers sort largest first on the first click, text A to Z
    sort = column === sort.column ? {column: column, descending: !sort.descending} :
      {column: column, descending: O.kinds[column] !== 'text'};
    show();
  });
  show();
  window.ordersReady = true;
})();
