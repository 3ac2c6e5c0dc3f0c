'use strict';
// Clover's official Remote Pay SDK (npm remote-pay-cloud 4.1.2, unmodified) against the
// sandbox's emulated terminal. Usage: node remote_pay_flow.js <scenario>; prints one
// JSON line last: {"ok": bool, "steps": [...], "error"?: string}.
//
// Environment: CLOVER_TERMINAL_URL (ws:// or wss://.../remote_pay), CLOVER_BASE_URL
// (the sandbox's HTTP API, for its control routes). The SDK's default WebSocket factory
// uses the global WebSocket: Node 20 needs NODE_OPTIONS=--experimental-websocket (Node
// 22 has it by default). For wss://, NODE_EXTRA_CA_CERTS names the terminal's CA file.
//
//   full   pair with a code -> sale (tip) -> partial refund -> sale -> void ->
//          declined sale -> the terminal reboots (control API): the SDK reconnects by
//          itself with its token -> sale -> dispose -> a fresh connector with the saved
//          token (no code) -> sale
//   sale   pair -> one sale (used over wss://)
//   cloud  Cloud Pay Display: the remote_pay alert on CLOVER_BASE_URL with the OAuth
//          token CLOVER_ACCESS_TOKEN for CLOVER_MERCHANT_ID and device
//          CLOVER_DEVICE_ID, the proxy's OPTIONS call, the websocket with the token as
//          sub-protocol, no pairing -> sale. Node has no XMLHttpRequest: the SDK takes
//          one through HttpSupport, so this script passes a small one built on fetch.

const clover = require('remote-pay-cloud');

const TERMINAL = process.env.CLOVER_TERMINAL_URL;
const BASE = process.env.CLOVER_BASE_URL;
const WAIT_MS = 15000;
const steps = [];

function plain(x) {
  return x === undefined ? null : JSON.parse(JSON.stringify(x));
}

// Callbacks arrive as events; next(name) resolves with the next one of that name.
class Events {
  constructor() { this.queues = {}; this.waiters = {}; this.seen = []; }
  emit(name, value) {
    this.seen.push(name);
    const waiting = this.waiters[name];
    if (waiting && waiting.length) { waiting.shift()(value); return; }
    (this.queues[name] = this.queues[name] || []).push(value);
  }
  next(name) {
    const queued = this.queues[name];
    if (queued && queued.length) return Promise.resolve(queued.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${name} within ${WAIT_MS} ms`)), WAIT_MS);
      (this.waiters[name] = this.waiters[name] || []).push((v) => { clearTimeout(timer); resolve(v); });
    });
  }
}

function connect(token) {
  const events = new Events();
  const builder = new clover.WebSocketPairedCloverDeviceConfigurationBuilder(
    'com.example.cloverpay.interop:1.0', TERMINAL, 'Interop POS', 'Register-1', token,
    (code) => events.emit('onPairingCode', code),
    (authToken) => events.emit('onPairingSuccess', authToken));
  const config = builder.build();
  const factory = clover.CloverConnectorFactoryBuilder.createICloverConnectorFactory({
    [clover.CloverConnectorFactoryBuilder.FACTORY_VERSION]: clover.CloverConnectorFactoryBuilder.VERSION_12,
  });
  const connector = factory.createICloverConnector(config);
  const listener = Object.assign({}, clover.remotepay.ICloverConnectorListener.prototype, {
    onDeviceReady: (info) => events.emit('onDeviceReady', info),
    onDeviceError: (e) => events.emit('onDeviceError', e),
    onDeviceDisconnected: () => events.emit('onDeviceDisconnected'),
    onSaleResponse: (r) => events.emit('onSaleResponse', r),
    onRefundPaymentResponse: (r) => events.emit('onRefundPaymentResponse', r),
    onVoidPaymentResponse: (r) => events.emit('onVoidPaymentResponse', r),
    onConfirmPaymentRequest: (r) => connector.acceptPayment(r.getPayment()),
    onVerifySignatureRequest: (r) => connector.acceptSignature(r),
  });
  connector.addCloverConnectorListener(listener);
  connector.initializeConnection();
  return {connector, events};
}

async function control(path, body) {
  const resp = await fetch(BASE + path, {
    method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body),
  });
  if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
}

async function sale(c, externalId, amount, tip) {
  const req = new clover.remotepay.SaleRequest();
  req.setExternalId(externalId);
  req.setAmount(amount);
  if (tip !== undefined) req.setTipAmount(tip);
  c.connector.sale(req);
  const resp = await c.events.next('onSaleResponse');
  steps.push({step: 'sale', externalId, response: plain(resp)});
  return resp;
}

async function pairAndReady(c) {
  const token = await c.events.next('onPairingSuccess');
  const info = await c.events.next('onDeviceReady');
  steps.push({step: 'ready', merchantInfo: plain(info)});
  return token;
}

async function full() {
  const first = connect(null);
  const code = await first.events.next('onPairingCode');
  steps.push({step: 'pairing_code', code});
  const token = await pairAndReady(first);
  steps.push({step: 'paired', token_length: token.length});

  const sold = await sale(first, 'js-sale-1', 1000, 150);
  const payment = sold.getPayment();
  const refund = new clover.remotepay.RefundPaymentRequest();
  refund.setPaymentId(payment.getId());
  refund.setOrderId(payment.getOrder().getId());
  refund.setAmount(400);
  refund.setFullRefund(false);
  first.connector.refundPayment(refund);
  steps.push({step: 'refund', response: plain(await first.events.next('onRefundPaymentResponse'))});

  const second = (await sale(first, 'js-sale-2', 2599)).getPayment();
  const voidReq = new clover.remotepay.VoidPaymentRequest();
  voidReq.setPaymentId(second.getId());
  voidReq.setOrderId(second.getOrder().getId());
  voidReq.setVoidReason('USER_CANCEL');
  first.connector.voidPayment(voidReq);
  steps.push({step: 'void', response: plain(await first.events.next('onVoidPaymentResponse'))});

  await control('/_sandbox/terminal/script', {outcome: 'decline'});
  await sale(first, 'js-sale-declined', 777);

  await control('/_sandbox/terminal/reboot', {});
  await first.events.next('onDeviceDisconnected');
  await first.events.next('onDeviceReady');
  steps.push({step: 'rebooted', pairing_code_again: first.events.seen.filter((n) => n === 'onPairingCode').length > 1});
  await sale(first, 'js-sale-after-reboot', 650);
  first.connector.dispose();

  const again = connect(token);
  const token2 = await pairAndReady(again);
  steps.push({step: 'reconnected', same_token: token2 === token,
              pairing_code_again: again.events.seen.includes('onPairingCode')});
  await sale(again, 'js-sale-after-reconnect', 1500);
  again.connector.dispose();
}

async function oneSale() {
  const c = connect(null);
  await pairAndReady(c);
  await sale(c, 'js-wss-sale', 4200);
  c.connector.dispose();
}

// The XMLHttpRequest subset HttpSupport uses (open, setRequestHeader, send,
// onreadystatechange, readyState, status, responseText, getResponseHeader).
class FetchXMLHttpRequest {
  constructor() { this.headers = {}; this.readyState = 0; this.status = 0; this.responseText = ''; }
  open(method, url) { this.method = method; this.url = url; this.readyState = 1; }
  setRequestHeader(name, value) { this.headers[name] = value; }
  getResponseHeader(name) { return this.responseHeaders ? this.responseHeaders.get(name) : null; }
  send(body) {
    steps.push({step: 'http', method: this.method, path: new URL(this.url).pathname});
    fetch(this.url, {method: this.method, headers: this.headers, body})
      .then(async (resp) => {
        this.status = resp.status; this.responseHeaders = resp.headers;
        this.responseText = await resp.text();
      }, (err) => { this.status = 0; this.responseText = String(err); })
      .then(() => { this.readyState = 4; if (this.onreadystatechange) this.onreadystatechange(); });
  }
}

async function cloud() {
  const events = new Events();
  const config = new clover.WebSocketCloudCloverDeviceConfigurationBuilder(
    'com.example.cloverpay.interop:1.0', process.env.CLOVER_DEVICE_ID,
    process.env.CLOVER_MERCHANT_ID, process.env.CLOVER_ACCESS_TOKEN)
    .setCloverServer(BASE)
    .setFriendlyId('interop-cloud')
    .setHttpSupport(new clover.HttpSupport(FetchXMLHttpRequest))
    .build();
  const factory = clover.CloverConnectorFactoryBuilder.createICloverConnectorFactory({
    [clover.CloverConnectorFactoryBuilder.FACTORY_VERSION]: clover.CloverConnectorFactoryBuilder.VERSION_12,
  });
  const connector = factory.createICloverConnector(config);
  connector.addCloverConnectorListener(Object.assign({}, clover.remotepay.ICloverConnectorListener.prototype, {
    onDeviceReady: (info) => events.emit('onDeviceReady', info),
    onPairingCode: (code) => events.emit('onPairingCode', code),
    onSaleResponse: (r) => events.emit('onSaleResponse', r),
  }));
  connector.initializeConnection();
  steps.push({step: 'ready', merchantInfo: plain(await events.next('onDeviceReady'))});
  await sale({connector, events}, 'js-cloud-sale', 3100);
  steps.push({step: 'pairing_seen', value: events.seen.includes('onPairingCode')});
  connector.dispose();
}

async function main() {
  const scenario = process.argv[2];
  const run = {full, sale: oneSale, cloud}[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  await run();
}

main().then(
  () => { console.log(JSON.stringify({ok: true, steps})); process.exit(0); },
  (err) => { console.log(JSON.stringify({ok: false, steps, error: String(err && err.stack || err)})); process.exit(1); },
);
