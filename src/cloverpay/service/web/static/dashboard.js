// Dashboard: confirm destructive forms, add invoice lines. No inline script anywhere.
(function () {
  'use strict';
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
  document.querySelectorAll('form').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (event.defaultPrevented) { return; }
      form.querySelectorAll('button[type=submit]').forEach(function (b) { b.disabled = true; });
    });
  });
  var total = document.getElementById('invoice-total');
  function amount(text) {
    var v = parseFloat(String(text || '').replace(/[$,\s]/g, ''));
    return isNaN(v) ? 0 : Math.round(v * 100);
  }
  function recompute() {
    if (!total) { return; }
    var cents = amount(document.getElementById('tax').value);
    document.querySelectorAll('#items tr').forEach(function (row) {
      var qty = row.querySelector('input[name=quantity]');
      var price = row.querySelector('input[name=unit_price]');
      if (qty && price) { cents += (parseInt(qty.value, 10) || 0) * amount(price.value); }
    });
    total.textContent = '$' + (cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  var invoiceForm = document.getElementById('invoice-form');
  if (invoiceForm) { invoiceForm.addEventListener('input', recompute); recompute(); }
  var add = document.getElementById('add-line');
  if (add) {
    add.addEventListener('click', function () {
      var table = document.getElementById('items');
      var rows = table.querySelectorAll('tr');
      var copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelectorAll('input').forEach(function (i) { i.value = i.name === 'quantity' ? '1' : ''; });
      rows[rows.length - 1].parentNode.appendChild(copy);
      recompute();
    });
  }
  // Live fragments (terminals, a terminal sale): fetch data-poll every data-poll-every ms;
  // a fragment saying data-final stops the polling, and reloads the page once when it
  // became final while watched (the invoice's status and payments changed).
  document.querySelectorAll('[data-poll]').forEach(function (box) {
    var every = parseInt(box.dataset.pollEvery, 10) || 1000;
    var watched = false;
    function tick() {
      fetch(box.dataset.poll, { credentials: 'same-origin', cache: 'no-store' })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          box.innerHTML = html;
          var final = box.querySelector('[data-final="1"]');
          if (final) {
            if (watched && box.dataset.reloadWhenFinal) { window.location.reload(); }
            return;
          }
          watched = true;
          window.setTimeout(tick, every);
        })
        .catch(function () { window.setTimeout(tick, every * 3); });
    }
    tick();
  });
})();
