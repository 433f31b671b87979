/**
 * vim25 SOAP on the wire: building request bodies (escaped text, typed references, xsi:type) and
 * parsing responses into a small namespace-resolved tree. vcsim writes `XMLSchema-instance:type`
 * where vCenter writes `xsi:type`, so the type attribute is found by its namespace URI, never by
 * its prefix; element names are reduced to their local names.
 */

export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
export const SOAP_NS = 'http://schemas.xmlsoap.org/soap/envelope/';

/** A managed object reference: type and opaque value (vcsim datastore values are file paths). */
export interface MoRef {
  type: string;
  value: string;
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** `<tag>text</tag>` with the text escaped; nothing for undefined (optional XSD elements are left out). */
export function text(tag: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${tag}>${escapeXml(String(value))}</${tag}>`;
}

/** `<tag type="T">value</tag>`: vcsim answers ManagedObjectNotFound when `type` is missing. */
export function ref(tag: string, r: MoRef | undefined): string {
  return r ? `<${tag} type="${escapeXml(r.type)}">${escapeXml(r.value)}</${tag}>` : '';
}

/** `<tag xsi:type="T">inner</tag>` for polymorphic values. */
export function typed(tag: string, xsiType: string, inner: string): string {
  return `<${tag} xsi:type="${escapeXml(xsiType)}">${inner}</${tag}>`;
}

export function envelope(method: string, inner: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<soapenv:Envelope xmlns:soapenv="${SOAP_NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="${XSI_NS}">` +
    `<soapenv:Body><${method} xmlns="urn:vim25">${inner}</${method}></soapenv:Body></soapenv:Envelope>`
  );
}

/** One parsed element: local name, attributes without namespace declarations, resolved xsi:type. */
export interface XNode {
  name: string;
  attrs: Record<string, string>;
  /** Local part of the xsi:type value (`xsd:string` → `string`), resolved under any prefix. */
  xsiType?: string;
  children: XNode[];
  /** Concatenated text content of this element (children's text not included). */
  text: string;
}

export function child(n: XNode | undefined, name: string): XNode | undefined {
  return n?.children.find((c) => c.name === name);
}

export function children(n: XNode | undefined, name?: string): XNode[] {
  if (!n) return [];
  return name === undefined ? n.children : n.children.filter((c) => c.name === name);
}

export function childText(n: XNode | undefined, name: string): string | undefined {
  return child(n, name)?.text;
}

export function toRef(n: XNode | undefined): MoRef | undefined {
  return n && n.attrs.type !== undefined ? { type: n.attrs.type, value: n.text } : undefined;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? m;
  });
}

function localName(qname: string): string {
  const i = qname.indexOf(':');
  return i < 0 ? qname : qname.slice(i + 1);
}

/** Shared by the many leaves and attribute-less elements of a big read: fewer allocations, less GC. */
const NO_ATTRS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const NO_CHILDREN: XNode[] = Object.freeze([]) as unknown as XNode[];

const ATTR = /\s*([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/y;
const NAME = /[^\s/>]+/y;

/**
 * A small non-validating XML reader for SOAP responses (elements, attributes, text, entities,
 * CDATA; comments, processing instructions and doctypes skipped). Written for speed: a 10,000-VM
 * property read is tens of MB, and a generic parser plus a conversion pass took several times
 * longer than vSphere took to send it.
 */
export function parseXml(xml: string): XNode | undefined {
  const root: XNode = { name: '', attrs: {}, children: [], text: '' };
  const stack: XNode[] = [root];
  const scopes: Map<string, string>[] = [new Map()];
  let pos = 0;
  const n = xml.length;
  while (pos < n) {
    const lt = xml.indexOf('<', pos);
    const top = stack[stack.length - 1]!;
    if (lt < 0) {
      top.text += decode(xml.slice(pos));
      break;
    }
    if (lt > pos) top.text += decode(xml.slice(pos, lt));
    const c = xml.charCodeAt(lt + 1);
    if (c === 47 /* / */) {
      const gt = xml.indexOf('>', lt);
      if (stack.length <= 1) throw new Error(`unexpected closing tag at ${lt}`);
      stack.pop();
      scopes.pop();
      pos = gt + 1;
      continue;
    }
    if (c === 63 /* ? */) {
      pos = xml.indexOf('?>', lt) + 2;
      continue;
    }
    if (c === 33 /* ! */) {
      if (xml.startsWith('<![CDATA[', lt)) {
        const end = xml.indexOf(']]>', lt);
        top.text += xml.slice(lt + 9, end);
        pos = end + 3;
      } else if (xml.startsWith('<!--', lt)) pos = xml.indexOf('-->', lt) + 3;
      else pos = xml.indexOf('>', lt) + 1;
      continue;
    }
    NAME.lastIndex = lt + 1;
    const qname = NAME.exec(xml)?.[0];
    if (!qname) throw new Error(`malformed tag at ${lt}`);
    let p = lt + 1 + qname.length;
    const raw: [string, string][] = [];
    let scope = scopes[scopes.length - 1]!;
    let own = false;
    for (;;) {
      ATTR.lastIndex = p;
      const m = ATTR.exec(xml);
      if (!m) break;
      const [k, v] = [m[1]!, decode(m[2] ?? m[3] ?? '')];
      p = ATTR.lastIndex;
      if (k === 'xmlns' || k.startsWith('xmlns:')) {
        if (!own) {
          scope = new Map(scope);
          own = true;
        }
        scope.set(k === 'xmlns' ? '' : k.slice(6), v);
      } else raw.push([k, v]);
    }
    const gt = xml.indexOf('>', p);
    if (gt < 0) throw new Error(`unterminated tag at ${lt}`);
    const node: XNode = { name: localName(qname), attrs: raw.length ? {} : NO_ATTRS, children: NO_CHILDREN, text: '' };
    for (const [k, v] of raw) {
      const i = k.indexOf(':');
      if (i > 0 && k.slice(i + 1) === 'type' && scope.get(k.slice(0, i)) === XSI_NS) node.xsiType = localName(v);
      else node.attrs[i > 0 ? k.slice(i + 1) : k] = v;
    }
    if (top.children === NO_CHILDREN) top.children = [node];
    else top.children.push(node);
    pos = gt + 1;
    if (xml.charCodeAt(gt - 1) !== 47 /* self-closing */) {
      stack.push(node);
      scopes.push(scope);
    }
  }
  if (stack.length !== 1) throw new Error('unterminated element at end of document');
  return root.children[0];
}

/** Parses a SOAP envelope and returns its Body element. */
export function parseEnvelope(xml: string): XNode {
  const top = parseXml(xml);
  const body = child(top, 'Body');
  if (!top || top.name !== 'Envelope' || !body) throw new Error('response is not a SOAP envelope');
  return body;
}
