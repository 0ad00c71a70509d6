(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('dashboard-data').textContent);
  var CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ['lasso2d', 'select2d']};
  var EMPTY_CONFIG = {responsive: true, displayModeBar: false, staticPlot: true};
  var COLORS = D.colors;

  function copy(value) { return JSON.parse(JSON.stringify(value)); }
  function render(id, fig) {
    var el = document.getElementById(id);
    if (!el || !fig) { return; }
    var f = copy(fig);
    // the container takes the figure's height, so a responsive resize keeps it
    if (f.layout && f.layout.height) { el.style.height = f.layout.height + 'px'; }
    Plotly.react(el, f.data, f.layout, f.empty ? EMPTY_CONFIG : CONFIG);
  }
  function fmt(x, digits) {
    if (x === null || x === undefined || isNaN(x)) { return 'n/a'; }
    return Number(x).toLocaleString('en-US', {maximumFractionDigits: digits || 0, minimumFractionDigits: digits || 0});
  }
  function pct(x, signed) {
    if (x === null || x === undefined || isNaN(x)) { return 'n/a'; }
    var r = Math.round(x * 100) || 0;  // no "-0%"
    return (signed && r >= 0 ? '+' : '') + r + '%';
  }
  function esc(text) {
    return String(text === null || text === undefined ? '' : text).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function modelColor(name) { return D.model_colors[name] || '#455a64'; }
  function fade(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgba(' + (n >> 16 & 255) + ', ' + (n >> 8 & 255) + ', ' + (n & 255) + ', ' + alpha + ')';
  }
  function wrap(text, width) {
    var lines = [], current = '';
    String(text || '').split(' ').forEach(function (word) {
      if (current && current.length + 1 + word.length > width) { lines.push(current); current = word; }
      else { current = current ? current + ' ' + word : word; }
    });
    if (current) { lines.push(current); }
    return lines.join('<br>');
  }
  // the same title block, margins and sizing as the figures built in Python (_layout, _figure)
  function baseLayout(title, subtitle, plotHeight) {
    var t = wrap(title, D.title_width), st = wrap(subtitle, D.subtitle_width);
    var tl = t.split('<br>').length, sl = st ? st.split('<br>').length : 0;
    return {
      title: {text: t, x: 0.01, xanchor: 'left', y: 1, yref: 'container', yanchor: 'top', pad: {t: 40},
              font: {size: 15}, subtitle: {text: st, font: {size: 11, color: '#607d8b'}}},
      height: plotHeight, margin: {l: 70, r: 25, t: 54 + 19 * tl + 15 * sl, b: 40},
      font: {family: D.font, size: 12, color: '#263238'}, paper_bgcolor: '#ffffff', plot_bgcolor: '#ffffff',
      hovermode: 'x unified', legend: {orientation: 'h', yref: 'container', y: 0, yanchor: 'bottom', x: 0.01},
      xaxis: {automargin: true, gridcolor: '#eceff1'}, yaxis: {automargin: true, gridcolor: '#eceff1'}};
  }
  function monthLabel(iso) {
    var p = iso.split('-');
    return ['Jan','Feb','Mar','Apr','May','Jun','Jul','Aug','Sep','Oct','Nov','Dec'][Number(p[1]) - 1] + ' ' + p[0];
  }
  function finish(traces, layout) {
    var entries = layout.showlegend === false ? 0 :
      traces.filter(function (tr) { return tr.showlegend !== false; }).length;
    var rows = entries > 1 ? Math.ceil(entries / 3) : 0;
    layout.margin.b = 40 + (layout.xaxis && layout.xaxis.title ? 22 : 0) + 22 * rows;
    layout.height = layout.height + layout.margin.t + layout.margin.b;
    return {data: traces, layout: layout};
  }

  // ---------------------------------------------------------------- static figures
  Object.keys(D.figures.static).forEach(function (id) { render(id, D.figures.static[id]); });

  // ---------------------------------------------------------------- group / category selector
  function kpiHtml(k) {
    if (!k) { return '<div class="no-data">No data yet: no product attributes (dim_products) for this selection.</div>'; }
    var cards = [['Products', k.n_products], ['With a forecast', k.n_forecast], ['New', k.n_new],
                 ['Discontinued', k.n_discontinued], ['Intermittent', k.n_intermittent], ['Lumpy', k.n_lumpy]];
    return cards.filter(function (c) { return c[1] !== null && c[1] !== undefined; }).map(function (c) {
      return '<div class="kpi"><div class="value">' + fmt(c[1]) + '</div><div class="label">' + c[0] + '</div></div>';
    }).join('');
  }
  // ---------------------------------------------------------------- forecast table and CSV per selection
  var T = D.table, TABLE_ROWS_SHOWN = 200, csvUrl = null;
  var PCTS = ['P10', 'P50', 'P90'];
  function units(x) {
    if (x === null || x === undefined || isNaN(x)) { return ''; }
    return Math.abs(x) < 10 ? fmt(x, 1) : fmt(x);
  }
  function segmentRows(key) {
    var f = D.segment_filters[key] || [null, null];
    return T.rows.filter(function (r) { return (!f[0] || r[2] === f[0]) && (!f[1] || r[3] === f[1]); });
  }
  function csvCell(v) {
    if (v === null || v === undefined) { return ''; }
    var s = String(v);
    if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) { s = "'" + s; }  // no formulas in a spreadsheet
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function csvText(rows) {
    var head = ['product_id', 'product_name', 'product_group', 'category', 'selected_model'];
    T.months.forEach(function (m) { PCTS.forEach(function (p) { head.push(m.slice(0, 7) + ' ' + p); }); });
    return [head].concat(rows).map(function (r) { return r.map(csvCell).join(','); }).join('\r\n') + '\r\n';
  }
  function slug(text) { return String(text).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'all'; }
  function showTable(key) {
    var table = document.getElementById('seg-table');
    if (!table) { return; }
    var rows = segmentRows(key), label = D.segment_labels[key] || key;
    var head1 = '<tr><th rowspan="2">Product</th><th rowspan="2">Name</th><th rowspan="2">Model</th>' +
      T.months.map(function (m) { return '<th colspan="3" class="month">' + monthLabel(m) + '</th>'; }).join('') + '</tr>';
    var head2 = '<tr>' + T.months.map(function () {
      return PCTS.map(function (p) { return '<th class="num">' + p + '</th>'; }).join(''); }).join('') + '</tr>';
    var totals = {};
    (D.segment_totals[key] || []).forEach(function (f) { totals[f[0]] = f; });
    var total = '<tr class="total"><td colspan="3">Total of ' + fmt(rows.length) + ' product' +
      (rows.length === 1 ? '' : 's') + ' (P10 and P90 summed)</td>' + T.months.map(function (m) {
        var f = totals[m] || [m, null, null, null];
        return '<td class="num">' + units(f[1]) + '</td><td class="num">' + units(f[2]) + '</td><td class="num">' +
          units(f[3]) + '</td>';
      }).join('') + '</tr>';
    var body = rows.slice(0, TABLE_ROWS_SHOWN).map(function (r) {
      var cells = '<td>' + esc(r[0]) + '</td><td>' + esc(r[1]) + '</td><td>' + esc(r[4]) + '</td>';
      for (var i = 5; i < r.length; i++) { cells += '<td class="num">' + units(r[i]) + '</td>'; }
      return '<tr>' + cells + '</tr>';
    }).join('');
    table.innerHTML = '<thead>' + head1 + head2 + '</thead><tbody>' + total + body + '</tbody>';
    document.getElementById('table-label').textContent = label;
    var note = fmt(rows.length) + ' product' + (rows.length === 1 ? '' : 's') + ', largest P50 of ' +
      (T.months.length ? monthLabel(T.months[0]) : 'next month') + ' first';
    if (rows.length > TABLE_ROWS_SHOWN) { note += '; the first ' + TABLE_ROWS_SHOWN + ' shown, the CSV has all ' + fmt(rows.length); }
    if (T.n_total > T.rows.length) {
      note += '. The table holds the ' + fmt(T.rows.length) + ' largest of ' + fmt(T.n_total) +
        ' products; every product is in marts.mart_forecast_wide';
    }
    document.getElementById('table-note').textContent = note + '.';
    var link = document.getElementById('seg-csv');
    if (csvUrl) { URL.revokeObjectURL(csvUrl); }
    csvUrl = URL.createObjectURL(new Blob(['\ufeff' + csvText(rows)], {type: 'text/csv;charset=utf-8'}));
    link.href = csvUrl;
    link.download = 'forecast_' + slug(label) + '_as-of-' + (D.as_of || '').slice(0, 7) + '.csv';
    link.textContent = 'Download CSV: ' + label + ' (' + fmt(rows.length) + ' products)';
  }

  var select = document.getElementById('segment-select');
  function showSegment(key) {
    var figs = D.figures.segments[key];
    if (!figs) { return; }
    Object.keys(figs).forEach(function (id) { render(id, figs[id]); });
    document.getElementById('seg-kpis').innerHTML = kpiHtml(D.segment_kpis[key]);
    document.getElementById('segment-current').textContent = D.segment_labels[key] || key;
    showTable(key);
  }
  if (select) {
    select.addEventListener('change', function () { showSegment(select.value); });
    showSegment(select.value);
  }

  // ---------------------------------------------------------------- one product
  var input = document.getElementById('product-search');
  var M = D.product_months, F = D.forecast_months;
  function productFigures(p) {
    var traces = [], title, lastIdx = -1, label = p.id + (p.name && p.name !== p.id ? ' ' + p.name : '');
    if (p.raw) {
      for (var i = M.length - 1; i >= 0; i--) { if (p.demand[i] !== null) { lastIdx = i; break; } }
      traces.push({type: 'scatter', mode: 'lines', name: 'Raw net units', x: M, y: p.raw,
                   line: {color: COLORS.raw, width: 1.5, dash: 'dot'}, hovertemplate: '%{y:,.0f}'});
      traces.push({type: 'scatter', mode: 'lines+markers', name: 'Cleaned demand', x: M, y: p.demand,
                   line: {color: COLORS.actual, width: 2}, marker: {size: 4}, hovertemplate: '%{y:,.0f}'});
      if (p.stockout.length) {
        traces.push({type: 'scatter', mode: 'markers', name: 'Stock-out month',
                     x: p.stockout.map(function (i) { return M[i]; }),
                     y: p.stockout.map(function (i) { return p.demand[i]; }),
                     text: p.stockout.map(function (i) {
                       return 'stock-out: ' + (p.stockout_days[i] || '?') + ' days' +
                              (p.imputed.indexOf(i) >= 0 ? ', demand imputed' : ''); }),
                     marker: {symbol: 'x', size: 11, color: COLORS.stockout, line: {width: 1}},
                     hovertemplate: '%{text}'});
      }
      if (p.outlier.length) {
        traces.push({type: 'scatter', mode: 'markers', name: 'Outlier capped',
                     x: p.outlier.map(function (i) { return M[i]; }),
                     y: p.outlier.map(function (i) { return p.raw[i]; }),
                     text: p.outlier.map(function (i) { return fmt(p.capped[i]) + ' units capped'; }),
                     marker: {symbol: 'triangle-down-open', size: 10, color: COLORS.outlier, line: {width: 2}},
                     hovertemplate: '%{text}'});
      }
    }
    var lead = lastIdx >= 0 ? [M[lastIdx]] : [], leadY = lastIdx >= 0 ? [p.demand[lastIdx]] : [];
    var model = p.model || 'selected model';
    if (p.forecast) {
      var fc = p.forecast.map(function (v) { return v || [null, null, null]; });
      var x = lead.concat(F);
      traces.push({type: 'scatter', mode: 'lines', name: 'P10', x: x, showlegend: false, line: {width: 0},
                   y: leadY.concat(fc.map(function (v) { return v[0]; })), hovertemplate: '%{y:,.0f}'});
      traces.push({type: 'scatter', mode: 'lines', name: 'P90', x: x, showlegend: false, line: {width: 0},
                   fill: 'tonexty', fillcolor: fade(modelColor(model), 0.18),
                   y: leadY.concat(fc.map(function (v) { return v[2]; })), hovertemplate: '%{y:,.0f}'});
      traces.push({type: 'scatter', mode: 'lines+markers', name: 'Forecast P50 (' + model + ', P10-P90 band)', x: x,
                   y: leadY.concat(fc.map(function (v) { return v[1]; })),
                   line: {color: modelColor(model), width: 2.5, dash: 'dash'}, marker: {size: 6},
                   hovertemplate: '%{y:,.0f}'});
      title = label + ' - ' + monthLabel(F[0]) + ': ' +
              fmt(fc[0][1]) + ' units forecast (P10-P90 ' + fmt(fc[0][0]) + '-' + fmt(fc[0][2]) + ')';
    } else {
      title = label + ': no forecast in the latest run';
    }
    if (p.baseline && model !== 'baseline') {
      traces.push({type: 'scatter', mode: 'lines', name: 'Baseline forecast', x: lead.concat(F),
                   y: leadY.concat(p.baseline), line: {color: modelColor('baseline'), width: 1.5, dash: 'dot'},
                   hovertemplate: '%{y:,.0f}'});
    }
    if (p.volume12 !== undefined && p.volume12 !== null) { title += '; last 12 months ' + fmt(p.volume12) + ' units'; }
    if (p.stockout && p.stockout.length) { title += ', ' + p.stockout.length + ' stock-out month' + (p.stockout.length > 1 ? 's' : ''); }
    var hl = baseLayout(title, 'Raw net units (dotted) and cleaned demand, last ' + M.length + ' months; the ' +
      'forecast handed to purchasing with its P10-P90 band, and the baseline forecast', D.plot_height);
    hl.xaxis = {type: 'date', tickformat: '%b %Y', hoverformat: '%b %Y', gridcolor: '#eceff1', automargin: true};
    hl.yaxis = {title: {text: 'units / month'}, rangemode: 'tozero', gridcolor: '#eceff1', tickformat: ',.0f',
                automargin: true};
    var history = finish(traces, hl);

    var errors = p.errors || {}, names = Object.keys(errors).filter(function (m) { return errors[m][0] !== null; });
    names.sort(function (a, b) { return errors[a][0] - errors[b][0] || (a < b ? -1 : 1); });
    var mtitle, mtraces = [];
    if (!names.length) {
      mtitle = p.id + ': no evaluated forecasts yet';
    } else {
      mtraces.push({type: 'bar', orientation: 'h', x: names.map(function (m) { return errors[m][0]; }),
                    y: names.map(function (m) { return m === p.model ? m + ' (selected)' : m; }),
                    marker: {color: names.map(modelColor),
                             line: {color: '#000000', width: names.map(function (m) { return m === p.model ? 3 : 0; })}},
                    text: names.map(function (m) { return pct(errors[m][0]); }), textposition: 'auto',
                    cliponaxis: false, customdata: names.map(function (m) { return errors[m][1]; }),
                    hovertemplate: '%{y}: WAPE %{x:.1%} over %{customdata} forecasts<extra></extra>'});
      var sel = errors[p.model], base = errors.baseline;
      if (sel && base && p.model !== 'baseline') {
        var diff = sel[0] - base[0];
        mtitle = 'Selected ' + p.model + ': WAPE ' + pct(sel[0]) + ' vs baseline ' + pct(base[0]) + ' (' +
                 (diff <= 0 ? Math.round(-diff * 100) + ' pts better)' : Math.round(diff * 100) + ' pts worse)');
      } else if (sel) {
        mtitle = 'Selected ' + p.model + ': WAPE ' + pct(sel[0]) + (p.model === 'baseline' ? ' (the baseline itself)' : '');
      } else {
        mtitle = 'Best model for ' + p.id + ': ' + names[0] + ' (WAPE ' + pct(errors[names[0]][0]) + ')';
      }
    }
    var source = D.model_error_source === 'backtest' ? "backtest of the latest run" :
                 "forecasts of the last 12 evaluated months, all horizons";
    var ml = baseLayout(mtitle, 'WAPE of each model for this product (' + source + '); the selected model is ' +
      'outlined', Math.max(120, 28 * names.length));
    ml.showlegend = false;
    ml.hovermode = 'closest';
    ml.xaxis = {title: {text: 'WAPE (% of actual demand)'}, tickformat: '.0%', gridcolor: '#eceff1',
                rangemode: 'tozero', automargin: true};
    ml.yaxis = {autorange: 'reversed', automargin: true};
    var models = finish(mtraces, ml);
    return {history: history, models: models};
  }
  function productInfo(p) {
    var parts = [['Product', p.id + (p.name && p.name !== p.id ? ' - ' + p.name : '')],
                 ['Group', (p.group || 'n/a') + ' / ' + (p.category || 'n/a')],
                 ['Demand class', p.demand_class], ['Lifecycle', p.lifecycle],
                 ['Selected model', p.model], ['WAPE last 3 months', p.wape3 === undefined ? null : pct(p.wape3)],
                 ['Bias last 3 months', p.bias3 === undefined ? null : pct(p.bias3, true)],
                 ['Why this model', p.reason]];
    return parts.filter(function (x) { return x[1] !== null && x[1] !== undefined && x[1] !== ''; }).map(function (x) {
      return '<b>' + x[0] + ':</b> ' + esc(x[1]);
    }).join(' &nbsp;&middot;&nbsp; ');
  }
  function showProduct(id) {
    var p = D.products[id], msg = document.getElementById('product-message');
    if (!p) {
      msg.style.display = 'block';
      msg.textContent = id ? (id + ' is not embedded in this dashboard (top ' + D.top_n +
        ' products by volume and every product that needs attention are). Its forecast is in the table above ' +
        'and in marts.mart_forecast_wide.') : '';
      return false;
    }
    msg.style.display = 'none';
    var figs = productFigures(p);
    render('prod-history', figs.history);
    render('prod-models', figs.models);
    document.getElementById('product-info').innerHTML = productInfo(p);
    if (input && input.value !== id) { input.value = id; }
    return true;
  }
  window.dashboardShowProduct = showProduct;
  if (input && D.product_order.length) {
    var pick = function () {
      var v = input.value.trim();
      if (!v) { return; }
      if (!D.products[v]) {
        var hit = D.product_order.filter(function (pid) { var n = D.products[pid].name || '';
          return pid.toLowerCase() === v.toLowerCase() || n.toLowerCase() === v.toLowerCase(); })[0];
        if (hit) { v = hit; }
      }
      showProduct(v);
    };
    input.addEventListener('change', pick);
    input.addEventListener('keydown', function (e) { if (e.key === 'Enter') { pick(); } });
    showProduct(D.product_order[0]);
  }
  var perf = document.getElementById('seg-attention');
  if (perf && perf.on) {
    perf.on('plotly_click', function (ev) {
      var pt = ev && ev.points && ev.points[0];
      if (pt && pt.customdata && showProduct(pt.customdata[0])) {
        document.getElementById('product').scrollIntoView({behavior: 'smooth'});
      }
    });
  }
  window.dashboardReady = true;
})();
