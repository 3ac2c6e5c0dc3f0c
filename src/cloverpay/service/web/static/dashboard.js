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
  var add = document.getElementById('add-line');
  if (add) {
    add.addEventListener('click', function () {
      var table = document.getElementById('items');
      var rows = table.querySelectorAll('tr');
      var copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelectorAll('input').forEach(function (i) { i.value = i.name === 'quantity' ? '1' : ''; });
      rows[rows.length - 1].parentNode.appendChild(copy);
    });
  }
})();
