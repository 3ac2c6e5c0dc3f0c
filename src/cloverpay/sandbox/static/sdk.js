/*
 * cloverpay sandbox stand-in for Clover's hosted iframe SDK (https://checkout.clover.com/sdk.js).
 *
 * Same public surface as Clover's script:
 *   const clover = new Clover(apiAccessKey, {merchantId, locale});
 *   const elements = clover.elements();
 *   const cardNumber = elements.create('CARD_NUMBER', styles);
 *   cardNumber.mount('#card-number');            // a selector string, not a node
 *   cardNumber.addEventListener('change', (event) => { event.CARD_NUMBER.error ... });
 *   clover.createToken().then((result) => result.token || result.errors);
 *
 * Card data never touches the merchant page: every field is an <input> inside an iframe
 * served by the sandbox (/iframe/element?type=...). The page and the iframes talk with
 * postMessage, and both sides check the other's origin. On createToken() the CARD_NUMBER
 * iframe gathers the sibling fields (same origin as itself), POSTs {"card": {...}} with
 * header `apikey` to the sandbox's /v1/tokens, and hands the page only {token, card}.
 *
 * Plain ES2017, no build step, no dependencies.
 */
(function (global) {
  'use strict';

  var script = document.currentScript;
  var SANDBOX_ORIGIN = script && script.src ? new URL(script.src).origin : global.location.origin;
  var MESSAGE_SOURCE = 'clover-sandbox';
  var TYPES = [
    'CARD_NUMBER', 'CARD_DATE', 'CARD_CVV', 'CARD_POSTAL_CODE', 'CARD_NAME', 'CARD_STREET_ADDRESS'
  ];
  var REQUIRED_MESSAGES = {
    CARD_NUMBER: 'Card number is required',
    CARD_DATE: 'Card expiry date is required',
    CARD_CVV: 'Card CVV is required',
    CARD_POSTAL_CODE: 'Postal code is required'
  };
  var EVENT_NAMES = ['change', 'blur', 'focus'];
  var frameCounter = 0;
  var requestCounter = 0;

  function newId(prefix) {
    frameCounter += 1;
    return prefix + '-' + Date.now().toString(36) + '-' + frameCounter;
  }

  class CloverElement {
    constructor(clover, type, styles) {
      this._clover = clover;
      this.type = type;
      this._styles = styles || {};
      this._frameId = newId('clover-' + type.toLowerCase());
      this._iframe = null;
      this._listeners = {};
      this._state = { error: undefined, touched: false };
      this._ready = false;
      this._queue = [];
    }

    mount(selector) {
      if (typeof selector !== 'string') {
        console.error('Clover: element.mount() takes a CSS selector string');
        return;
      }
      var host = document.querySelector(selector);
      if (!host) {
        console.error('Clover: no element matches ' + selector);
        return;
      }
      var query = new URLSearchParams({
        type: this.type,
        frameId: this._frameId,
        parentOrigin: global.location.origin,
        locale: this._clover.locale
      });
      var iframe = document.createElement('iframe');
      iframe.src = SANDBOX_ORIGIN + '/iframe/element?' + query.toString();
      iframe.name = this._frameId;
      iframe.title = 'Secure card input: ' + this.type;
      iframe.setAttribute('frameborder', '0');
      iframe.setAttribute('scrolling', 'no');
      iframe.setAttribute('allowtransparency', 'true');
      iframe.style.border = 'none';
      iframe.style.width = '100%';
      iframe.style.height = '44px';
      host.innerHTML = '';
      host.appendChild(iframe);
      this._iframe = iframe;
      this._clover._register(this);
      this._clover._injectFooter(host);
    }

    unmount() {
      if (this._iframe && this._iframe.parentNode) {
        this._iframe.parentNode.removeChild(this._iframe);
      }
      this._iframe = null;
      this._clover._unregister(this);
    }

    addEventListener(name, callback) {
      if (EVENT_NAMES.indexOf(name) < 0) {
        throw new Error('Clover: unsupported event ' + name);
      }
      (this._listeners[name] = this._listeners[name] || []).push(callback);
    }

    removeEventListener(name, callback) {
      var list = this._listeners[name] || [];
      var i = list.indexOf(callback);
      if (i >= 0) list.splice(i, 1);
    }

    _post(message) {
      message.source = MESSAGE_SOURCE;
      message.frameId = this._frameId;
      if (!this._ready) {
        this._queue.push(message); // sent once the frame says it is ready
        return;
      }
      if (this._iframe && this._iframe.contentWindow) {
        this._iframe.contentWindow.postMessage(message, SANDBOX_ORIGIN);
      }
    }

    _flush() {
      var queued = this._queue;
      this._queue = [];
      for (var i = 0; i < queued.length; i++) this._post(queued[i]);
    }

    _emit(name, event) {
      (this._listeners[name] || []).slice().forEach(function (cb) {
        try { cb(event); } catch (err) { console.error(err); }
      });
    }
  }

  // Google Pay / Apple Pay need the real wallets: the sandbox shows a disabled placeholder.
  class UnavailableElement {
    constructor(type) { this.type = type; }

    mount(selector) {
      var host = typeof selector === 'string' ? document.querySelector(selector) : null;
      if (!host) return;
      var button = document.createElement('button');
      button.type = 'button';
      button.disabled = true;
      button.className = 'clover-sandbox-unavailable';
      button.textContent = 'Wallet payments are not available in the sandbox';
      host.innerHTML = '';
      host.appendChild(button);
    }

    unmount() {}

    addEventListener() {}

    removeEventListener() {}
  }

  class CloverElements {
    constructor(clover) {
      this._clover = clover;
    }

    create(type, styles) {
      if (type === 'PAYMENT_REQUEST_BUTTON') {
        return new UnavailableElement(type);
      }
      if (TYPES.indexOf(type) < 0) {
        throw new Error('Clover: unsupported element type ' + type);
      }
      return new CloverElement(this._clover, type, styles);
    }
  }

  class Clover {
    constructor(apiAccessKey, options) {
      if (!apiAccessKey || typeof apiAccessKey !== 'string') {
        throw new Error('Clover: an apiAccessKey is required');
      }
      options = options || {};
      this._apiAccessKey = apiAccessKey;
      this.merchantId = options.merchantId;
      this.locale = options.locale || 'en-US';
      this._elements = null;
      this._mounted = {};
      this._pending = {};
      this._footer = null;
      this._onMessage = this._onMessage.bind(this);
      global.addEventListener('message', this._onMessage);
    }

    elements() {
      if (!this._elements) this._elements = new CloverElements(this);
      return this._elements;
    }

    createToken() {
      var self = this;
      var missing = {};
      Object.keys(REQUIRED_MESSAGES).forEach(function (type) {
        if (!self._mounted[type]) missing[type] = REQUIRED_MESSAGES[type];
      });
      if (Object.keys(missing).length) {
        return Promise.resolve({ errors: missing });
      }
      requestCounter += 1;
      var requestId = 'tok-' + requestCounter;
      return new Promise(function (resolve, reject) {
        self._pending[requestId] = { resolve: resolve, reject: reject };
        self._mounted.CARD_NUMBER._post({
          type: 'tokenize',
          requestId: requestId,
          apiAccessKey: self._apiAccessKey,
          types: Object.keys(self._mounted),
          merchantId: self.merchantId || null
        });
      });
    }

    _register(element) {
      this._mounted[element.type] = element;
    }

    _unregister(element) {
      if (this._mounted[element.type] === element) delete this._mounted[element.type];
    }

    _byFrameId(frameId) {
      var self = this;
      var found = null;
      Object.keys(this._mounted).forEach(function (type) {
        if (self._mounted[type]._frameId === frameId) found = self._mounted[type];
      });
      return found;
    }

    _eventPayload() {
      var self = this;
      var event = {};
      Object.keys(this._mounted).forEach(function (type) {
        var state = self._mounted[type]._state;
        event[type] = { error: state.error, touched: state.touched };
      });
      return event;
    }

    _onMessage(event) {
      if (event.origin !== SANDBOX_ORIGIN) return;
      var data = event.data;
      if (!data || data.source !== MESSAGE_SOURCE) return;
      var element = this._byFrameId(data.frameId);
      if (!element || !element._iframe || event.source !== element._iframe.contentWindow) return;
      if (data.type === 'ready') {
        element._ready = true;
        element._post({ type: 'styles', styles: element._styles });
        element._flush();
      } else if (data.type === 'state') {
        element._state = { error: data.error || undefined, touched: !!data.touched };
        if (EVENT_NAMES.indexOf(data.event) >= 0) {
          element._emit(data.event, this._eventPayload());
        }
      } else if (data.type === 'tokenized') {
        var pending = this._pending[data.requestId];
        if (!pending) return;
        delete this._pending[data.requestId];
        if (data.networkError) {
          pending.reject(new Error(data.networkError));
        } else if (data.errors) {
          pending.resolve({ errors: data.errors });
        } else {
          pending.resolve({ token: data.token, card: data.card });
        }
      }
    }

    _injectFooter(host) {
      if (this._footer && document.body.contains(this._footer)) return;
      var footer = document.createElement('div');
      footer.className = 'clover-footer';
      footer.textContent = 'Secure Payments Powered by Clover – Privacy Policy';
      footer.style.fontSize = '11px';
      footer.style.color = '#6b6b6b';
      var form = host.closest ? host.closest('form') : null;
      (form || document.body).appendChild(footer);
      this._footer = footer;
    }
  }

  global.Clover = Clover;
})(typeof window !== 'undefined' ? window : this);
