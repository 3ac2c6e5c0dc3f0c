// Hosted pay page: mounts Clover's card iframe and posts only the clv_ token to us.
(function () {
  'use strict';
  var form = document.getElementById('pay-form');
  if (!form) { return; }
  var button = document.getElementById('pay-button');
  var errorBox = document.getElementById('card-errors');
  var clover = new Clover(form.dataset.pakmsKey, { merchantId: form.dataset.merchantId });
  var elements = clover.elements();
  var styles = { input: { fontSize: '16px' } };
  elements.create('CARD_NUMBER', styles).mount('#card-number');
  elements.create('CARD_DATE', styles).mount('#card-date');
  elements.create('CARD_CVV', styles).mount('#card-cvv');
  elements.create('CARD_POSTAL_CODE', styles).mount('#card-postal-code');
  var submitting = false;

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  form.addEventListener('submit', function (event) {
    if (form.elements.token.value) { return; }  // token already set: let the post go
    event.preventDefault();
    if (submitting) { return; }
    submitting = true;
    button.disabled = true;
    button.classList.add('busy');
    showError('');
    clover.createToken().then(function (result) {
      if (!result || !result.token) {
        var errors = (result && result.errors) || {};
        var first = Object.keys(errors).map(function (k) { return errors[k]; })[0];
        showError(first || 'Please check the card details.');
        submitting = false;
        button.disabled = false;
        button.classList.remove('busy');
        return;
      }
      var card = result.card || {};
      form.elements.token.value = result.token;
      form.elements.brand.value = card.brand || '';
      form.elements.last4.value = card.last4 || '';
      form.elements.exp_month.value = card.exp_month || '';
      form.elements.exp_year.value = card.exp_year || '';
      form.submit();
    }, function () {
      showError('The card form could not be reached. Please try again.');
      submitting = false;
      button.disabled = false;
      button.classList.remove('busy');
    });
  });
})();
