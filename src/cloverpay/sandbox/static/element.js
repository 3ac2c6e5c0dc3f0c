/*
 * One hosted card field of the cloverpay sandbox's sdk.js stand-in. Runs inside an iframe on
 * the sandbox's origin; the merchant page (the parent) only ever receives field states
 * ({error, touched}) and, from the CARD_NUMBER frame, the token.
 *
 * Messages (all carry source: 'clover-sandbox' and the frame's frameId):
 *   frame -> parent: {type: 'ready'} | {type: 'state', event, error, touched}
 *                    | {type: 'tokenized', requestId, token, card} | {..., errors} | {..., networkError}
 *   parent -> frame: {type: 'styles', styles} | {type: 'tokenize', requestId, apiAccessKey}
 * The frame accepts messages only from its parent window and the parent origin it was
 * opened for, and posts only to that origin.
 */
(function () {
  'use strict';

  var params = new URLSearchParams(window.location.search);
  var TYPE = params.get('type');
  var FRAME_ID = params.get('frameId');
  var PARENT_ORIGIN = params.get('parentOrigin');
  var SOURCE = 'clover-sandbox';
  var input = document.getElementById('field');
  var touched = false;

  if (window.location.ancestorOrigins && window.location.ancestorOrigins.length &&
      window.location.ancestorOrigins[0] !== PARENT_ORIGIN) {
    PARENT_ORIGIN = null; // opened for another page: talk to nobody
  }

  function digits(value) { return (value || '').replace(/\D+/g, ''); }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = Number(number.charAt(number.length - 1 - i));
      if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return number.length > 0 && sum % 10 === 0;
  }

  function brandOf(number) {
    if (/^4/.test(number)) return 'VISA';
    if (/^(5[1-5]|2(2[2-9]|[3-6]\d|7[01]|720))/.test(number)) return 'MC';
    if (/^3[47]/.test(number)) return 'AMEX';
    if (/^(6011|65|64[4-9])/.test(number)) return 'DISCOVER';
    if (/^(30[0-5]|36|38)/.test(number)) return 'DINERS_CLUB';
    if (/^35/.test(number)) return 'JCB';
    return null;
  }

  function parseDate(value) {
    var m = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(value || '');
    if (!m) return null;
    var month = Number(m[1]);
    var year = m[2].length === 2 ? 2000 + Number(m[2]) : Number(m[2]);
    if (month < 1 || month > 12) return null;
    return { month: month, year: year };
  }

  var VALIDATORS = {
    CARD_NUMBER: function (v) {
      var n = digits(v);
      if (!n) return 'Card number is required';
      if (n.length < 12 || n.length > 19 || !luhn(n)) return 'Card number is invalid';
      return undefined;
    },
    CARD_DATE: function (v) {
      if (!(v || '').trim()) return 'Card expiry date is required';
      var d = parseDate(v);
      if (!d) return 'Card expiry date is invalid';
      var now = new Date();
      if (d.year < now.getFullYear() ||
          (d.year === now.getFullYear() && d.month < now.getMonth() + 1)) {
        return 'Card is expired';
      }
      return undefined;
    },
    CARD_CVV: function (v) {
      if (!(v || '').trim()) return 'Card CVV is required';
      if (!/^\d{3,4}$/.test(v.trim())) return 'Card CVV is invalid';
      return undefined;
    },
    CARD_POSTAL_CODE: function (v) {
      if (!(v || '').trim()) return 'Postal code is required';
      if (!/^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$/.test(v.trim())) return 'Postal code is invalid';
      return undefined;
    },
    CARD_NAME: function (v) {
      return (v || '').length > 100 ? 'Cardholder name is too long' : undefined;
    },
    CARD_STREET_ADDRESS: function (v) {
      return (v || '').length > 100 ? 'Street address is too long' : undefined;
    }
  };

  var PLACEHOLDERS = {
    CARD_NUMBER: 'Card number', CARD_DATE: 'MM/YY', CARD_CVV: 'CVV',
    CARD_POSTAL_CODE: 'ZIP', CARD_NAME: 'Name on card', CARD_STREET_ADDRESS: 'Street address'
  };
  var AUTOCOMPLETE = {
    CARD_NUMBER: 'cc-number', CARD_DATE: 'cc-exp', CARD_CVV: 'cc-csc',
    CARD_POSTAL_CODE: 'postal-code', CARD_NAME: 'cc-name', CARD_STREET_ADDRESS: 'address-line1'
  };

  function validate() { return VALIDATORS[TYPE](input.value); }

  function toParent(message) {
    if (!PARENT_ORIGIN) return;
    message.source = SOURCE;
    message.frameId = FRAME_ID;
    window.parent.postMessage(message, PARENT_ORIGIN);
  }

  function report(eventName) {
    toParent({ type: 'state', event: eventName, error: touched ? validate() : undefined,
               touched: touched });
  }

  // Siblings read this (same origin as this frame); the parent page cannot.
  window.__cloverField = { type: TYPE, value: function () { return input.value; }, validate: validate };

  function sibling(type) {
    var frames = window.parent.frames;
    for (var i = 0; i < frames.length; i++) {
      try {
        var field = frames[i].__cloverField;
        if (field && field.type === type) return field;
      } catch (err) { /* a frame from another origin */ }
    }
    return null;
  }

  var ERROR_PARAMS = {
    'card.number': 'CARD_NUMBER', 'card.encrypted_pan': 'CARD_NUMBER', 'card.brand': 'CARD_NUMBER',
    'card.exp_month': 'CARD_DATE', 'card.exp_year': 'CARD_DATE', 'card.cvv': 'CARD_CVV',
    'card.address_zip': 'CARD_POSTAL_CODE', 'card.name': 'CARD_NAME',
    'card.address_line1': 'CARD_STREET_ADDRESS'
  };

  async function tokenize(request) {
    var fields = {};
    var errors = {};
    var mounted = Array.isArray(request.types) ? request.types : [];
    ['CARD_NUMBER', 'CARD_DATE', 'CARD_CVV', 'CARD_POSTAL_CODE', 'CARD_NAME',
     'CARD_STREET_ADDRESS'].forEach(function (type) {
      var field = type === TYPE ? window.__cloverField : sibling(type);
      if (!field) {
        // mounted on the page but its frame has not loaded yet: treat as empty
        if (mounted.indexOf(type) >= 0 && VALIDATORS[type]('')) errors[type] = VALIDATORS[type]('');
        return;
      }
      var error = field.validate();
      if (error) errors[type] = error;
      fields[type] = field.value();
    });
    if (Object.keys(errors).length) {
      toParent({ type: 'tokenized', requestId: request.requestId, errors: errors });
      return;
    }
    var number = digits(fields.CARD_NUMBER);
    var date = parseDate(fields.CARD_DATE);
    var card = {
      number: number,
      exp_month: String(date.month).padStart(2, '0'),
      exp_year: String(date.year),
      cvv: (fields.CARD_CVV || '').trim(),
      brand: brandOf(number) || undefined
    };
    if (fields.CARD_POSTAL_CODE) card.address_zip = fields.CARD_POSTAL_CODE.trim();
    if (fields.CARD_NAME) card.name = fields.CARD_NAME.trim();
    if (fields.CARD_STREET_ADDRESS) card.address_line1 = fields.CARD_STREET_ADDRESS.trim();
    var response;
    var body;
    try {
      response = await fetch('/v1/tokens', {
        method: 'POST',
        headers: { 'content-type': 'application/json', apikey: request.apiAccessKey },
        body: JSON.stringify({ card: card })
      });
      body = await response.json();
    } catch (err) {
      toParent({ type: 'tokenized', requestId: request.requestId,
                 networkError: 'Could not reach the tokenizer' });
      return;
    }
    if (!response.ok) {
      var err = (body && body.error) || {};
      var key = ERROR_PARAMS[err.param] || 'CARD_NUMBER';
      var out = {};
      out[key] = err.message || body.message || ('Tokenization failed (' + response.status + ')');
      toParent({ type: 'tokenized', requestId: request.requestId, errors: out });
      return;
    }
    toParent({ type: 'tokenized', requestId: request.requestId, token: body.id, card: body.card });
  }

  var SAFE_PROP = /^[a-zA-Z-]+$/;
  var SAFE_SELECTOR = /^[a-zA-Z0-9 :.#\-_>,()[\]="']+$/;

  function applyStyles(styles) {
    var css = '';
    Object.keys(styles || {}).forEach(function (selector) {
      if (!SAFE_SELECTOR.test(selector)) return;
      var rules = styles[selector] || {};
      var body = '';
      Object.keys(rules).forEach(function (prop) {
        var value = String(rules[prop]);
        if (!SAFE_PROP.test(prop) || /[<>{};]|url\(|expression|@import/i.test(value)) return;
        var name = prop.replace(/[A-Z]/g, function (c) { return '-' + c.toLowerCase(); });
        body += name + ':' + value + ';';
      });
      css += selector + '{' + body + '}\n';
    });
    document.getElementById('custom-styles').textContent = css;
  }

  window.addEventListener('message', function (event) {
    if (!PARENT_ORIGIN || event.source !== window.parent || event.origin !== PARENT_ORIGIN) return;
    var data = event.data;
    if (!data || data.source !== SOURCE || data.frameId !== FRAME_ID) return;
    if (data.type === 'styles') applyStyles(data.styles);
    else if (data.type === 'tokenize' && TYPE === 'CARD_NUMBER') tokenize(data);
  });

  input.placeholder = PLACEHOLDERS[TYPE] || '';
  input.setAttribute('autocomplete', AUTOCOMPLETE[TYPE] || 'off');
  if (TYPE === 'CARD_NUMBER' || TYPE === 'CARD_CVV') input.setAttribute('inputmode', 'numeric');
  input.addEventListener('input', function () { touched = true; report('change'); });
  input.addEventListener('focus', function () { report('focus'); });
  input.addEventListener('blur', function () { touched = true; report('blur'); });
  toParent({ type: 'ready' });
})();
