/**
 * vim25 SOAP on the wire: building request bodies (escaped text, typed references, xsi:type) and
 * parsing responses into a small namespace-resolved tree. vcsim writes `XMLSchema-instance:type`
 * where vCenter writes `xsi:type`, so the type attribute is found by its namespace URI, never by
 * its prefix; element names are reduced to their local names.
 */
import { XMLParser } from 'fast-xml-parser';

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

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: true, // also decodes numeric character references (&#xA; in annotations)
  ignoreDeclaration: true,
});

type RawNode = Record<string, unknown> & { ':@'?: Record<string, string> };

function localName(qname: string): string {
  const i = qname.indexOf(':');
  return i < 0 ? qname : qname.slice(i + 1);
}

function convert(raw: RawNode, scope: Map<string, string>): XNode | undefined {
  const tag = Object.keys(raw).find((k) => k !== ':@');
  if (tag === undefined || tag === '#text') return undefined;
  const rawAttrs = raw[':@'] ?? {};
  let inScope = scope;
  for (const [k, v] of Object.entries(rawAttrs)) {
    if (k === 'xmlns' || k.startsWith('xmlns:')) {
      if (inScope === scope) inScope = new Map(scope);
      inScope.set(k === 'xmlns' ? '' : k.slice(6), v);
    }
  }
  const attrs: Record<string, string> = {};
  let xsiType: string | undefined;
  for (const [k, v] of Object.entries(rawAttrs)) {
    if (k === 'xmlns' || k.startsWith('xmlns:')) continue;
    const i = k.indexOf(':');
    if (i > 0 && inScope.get(k.slice(0, i)) === XSI_NS && k.slice(i + 1) === 'type') xsiType = localName(v);
    else attrs[i > 0 ? k.slice(i + 1) : k] = v;
  }
  const node: XNode = { name: localName(tag), attrs, children: [], text: '' };
  if (xsiType !== undefined) node.xsiType = xsiType;
  for (const c of (raw[tag] as RawNode[]) ?? []) {
    if ('#text' in c) node.text += String(c['#text']);
    else {
      const cn = convert(c, inScope);
      if (cn) node.children.push(cn);
    }
  }
  return node;
}

/** Parses a SOAP envelope and returns its Body element. */
export function parseEnvelope(xml: string): XNode {
  const top = (parser.parse(xml) as RawNode[]).map((r) => convert(r, new Map())).find((n) => n !== undefined);
  const body = child(top, 'Body');
  if (!top || top.name !== 'Envelope' || !body) throw new Error('response is not a SOAP envelope');
  return body;
}
