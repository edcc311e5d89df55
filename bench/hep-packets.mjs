// Realistic HEPv3 packets for the HEP benchmarks: SIP responses of 400-700 bytes as a proxy mirrors
// them (Kamailio chunk order), each with its own Call-ID. A packet is built once per size variant; the
// Call-ID digits are then patched in place, so a sender can produce millions of distinct packets without
// building them.

const CODES = [
  [100, 'Trying'],
  [180, 'Ringing'],
  [183, 'Session Progress'],
  [200, 'OK'],
  [401, 'Unauthorized'],
  [407, 'Proxy Authentication Required'],
  [404, 'Not Found'],
  [486, 'Busy Here'],
  [487, 'Request Terminated'],
  [503, 'Service Unavailable'],
];
const METHODS = ['INVITE', 'INVITE', 'INVITE', 'REGISTER', 'OPTIONS', 'BYE'];
const ID_DIGITS = 12;

function chunk(type, value) {
  const h = Buffer.alloc(6);
  h.writeUInt16BE(0, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt16BE(6 + value.length, 4);
  return Buffer.concat([h, value]);
}
const u8 = (n) => Buffer.from([n]);
const u16 = (n) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

function sipResponse(code, reason, method, targetSize) {
  const lines = [
    `SIP/2.0 ${code} ${reason}`,
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---77ba2ee4a7a2c3f1;rport=5060;received=192.0.2.10',
    'Record-Route: <sip:192.0.2.1;lr;ftag=as5f9e1c2d>',
    'From: "Alice Example" <sip:+4930123456@example.com>;tag=as5f9e1c2d',
    `To: <sip:+4940987654@example.com>${code === 100 ? '' : ';tag=7a2c3f1e9d'}`,
    `Call-ID: ${'0'.repeat(ID_DIGITS)}-5f9e1c2d@192.0.2.10`,
    `CSeq: 102 ${method}`,
    'Server: Example SBC 4.2',
    'Content-Length: 0',
  ];
  let text = lines.join('\r\n') + '\r\n\r\n';
  if (text.length < targetSize) {
    const pad = targetSize - text.length - 'X-Pad: \r\n'.length;
    lines.splice(lines.length - 1, 0, `Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, PRACK, UPDATE`.slice(0, Math.max(0, pad)));
    text = lines.join('\r\n') + '\r\n\r\n';
    if (text.length < targetSize) {
      lines.splice(lines.length - 1, 0, `X-Pad: ${'p'.repeat(Math.max(1, targetSize - text.length - 9))}`);
      text = lines.join('\r\n') + '\r\n\r\n';
    }
  }
  return Buffer.from(text, 'latin1');
}

/**
 * `variants` packet templates (different codes, methods and sizes between 400 and 700 bytes). Each is
 * { buf, idOffset }: write a 12-digit decimal id at idOffset to make the Call-ID unique.
 */
export function makeTemplates(variants = 32) {
  const out = [];
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < variants; i++) {
    const [code, reason] = CODES[i % CODES.length];
    const method = METHODS[i % METHODS.length];
    const size = 400 + Math.floor((300 * i) / Math.max(1, variants - 1));
    const sip = sipResponse(code, reason, method, size);
    const head = Buffer.concat([
      chunk(0x01, u8(2)),
      chunk(0x02, u8(17)),
      chunk(0x03, Buffer.from([192, 0, 2, 10])),
      chunk(0x04, Buffer.from([192, 0, 2, 1])),
      chunk(0x07, u16(5060)),
      chunk(0x08, u16(5060)),
      chunk(0x09, u32(now)),
      chunk(0x0a, u32(i * 1000)),
      chunk(0x0b, u8(1)),
      chunk(0x0c, u32(2001)),
    ]);
    const payload = chunk(0x0f, sip);
    const body = Buffer.concat([head, payload]);
    const hdr = Buffer.alloc(6);
    hdr.write('HEP3', 0, 'latin1');
    hdr.writeUInt16BE(6 + body.length, 4);
    const buf = Buffer.concat([hdr, body]);
    const idOffset = buf.indexOf(Buffer.from('Call-ID: ', 'latin1')) + 'Call-ID: '.length;
    out.push({ buf, idOffset, sipBytes: sip.length });
  }
  return out;
}

/** Writes `n` as 12 decimal digits at buf[off..off+12). */
export function writeId(buf, off, n) {
  for (let i = ID_DIGITS - 1; i >= 0; i--) {
    buf[off + i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
}
