/** The wire layer without a server: namespace handling, faults, and the paging loop (vcsim never pages). */
import type { VimClient } from '../client';
import { retrieveAll } from '../inventory';
import {
  DuplicateNameError,
  faultFromBody,
  faultFromTaskError,
  InvalidLoginError,
  InvalidPowerStateError,
  ManagedObjectNotFoundError,
  TaskInProgressError,
} from './faults';
import { child, envelope, parseEnvelope, parseXml, toRef } from './xml';

const ENV = (body: string, ns = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'): string =>
  `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ${ns}><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;

test("xsi:type is found under vcsim's XMLSchema-instance prefix and kept apart from a reference's type attribute", () => {
  const vcsim = parseEnvelope(
    ENV(
      '<R xmlns="urn:vim25"><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ManagedObjectReference" type="Folder">folder-3</val></R>',
      '',
    ),
  );
  const vcenter = parseEnvelope(
    ENV('<R xmlns="urn:vim25"><val xsi:type="ManagedObjectReference" type="Folder">folder-3</val></R>'),
  );
  for (const b of [vcsim, vcenter]) {
    const val = child(child(b, 'R'), 'val')!;
    expect(val.xsiType).toBe('ManagedObjectReference');
    expect(toRef(val)).toEqual({ type: 'Folder', value: 'folder-3' });
  }
});

test('a prefix bound to another namespace is not taken for xsi', () => {
  const b = parseEnvelope(ENV('<R xmlns="urn:vim25" xmlns:foo="urn:other"><val foo:type="Nope">1</val></R>'));
  expect(child(child(b, 'R'), 'val')!.xsiType).toBeUndefined();
});

test('character references and escapes survive, and requests escape text', () => {
  const b = parseEnvelope(ENV('<R xmlns="urn:vim25"><a>owner=a&#xA;b &amp; &lt;c&gt;</a></R>'));
  expect(child(child(b, 'R'), 'a')!.text).toBe('owner=a\nb & <c>');
  expect(envelope('Login', '<password>s3cret&amp;&lt;x&gt;</password>')).toContain(
    '<Login xmlns="urn:vim25"><password>s3cret&amp;&lt;x&gt;</password></Login>',
  );
});

test('SOAP faults become typed errors naming the fault and the object', () => {
  const login = faultFromBody(
    parseEnvelope(
      ENV(
        '<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Login failure</faultstring><detail><InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"></InvalidLoginFault></detail></soapenv:Fault>',
      ),
    ),
    'vSphere Login',
  );
  expect(login).toBeInstanceOf(InvalidLoginError);
  const dup = faultFromBody(
    parseEnvelope(
      ENV(
        '<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring><detail><DuplicateNameFault xmlns="urn:vim25" xsi:type="DuplicateName"><name>reconciler</name><object type="Folder">folder-3</object></DuplicateNameFault></detail></soapenv:Fault>',
      ),
    ),
    'vSphere CreateFolder',
  )!;
  expect(dup).toBeInstanceOf(DuplicateNameError);
  expect(dup.object).toEqual({ type: 'Folder', value: 'folder-3' });
  expect(dup.message).toBe(
    'vSphere CreateFolder: DuplicateName on Folder:folder-3 (name=reconciler); another object already has this name; rename or remove it',
  );
  const mo = faultFromBody(
    parseEnvelope(
      ENV(
        '<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>managed object not found: VirtualMachine:vm-9</faultstring><detail><ManagedObjectNotFoundFault xmlns="urn:vim25" xsi:type="ManagedObjectNotFound"><obj type="VirtualMachine">vm-9</obj></ManagedObjectNotFoundFault></detail></soapenv:Fault>',
      ),
    ),
    'x',
  );
  expect(mo).toBeInstanceOf(ManagedObjectNotFoundError);
});

test("a task error (LocalizedMethodFault) becomes the same typed error, without vcsim's Go type name as text", () => {
  const b = parseEnvelope(
    ENV(
      '<R xmlns="urn:vim25"><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="LocalizedMethodFault"><fault XMLSchema-instance:type="InvalidPowerState"><requestedState>poweredOn</requestedState><existingState>poweredOn</existingState></fault><localizedMessage>*types.InvalidPowerState</localizedMessage></val></R>',
      '',
    ),
  );
  const e = faultFromTaskError(child(child(b, 'R'), 'val')!, 'vSphere task task-7 (power on web-01) failed');
  expect(e).toBeInstanceOf(InvalidPowerStateError);
  expect(e.detail).toEqual({ requestedState: 'poweredOn', existingState: 'poweredOn' });
  expect(e.message).not.toContain('*types');
});

// vcsim 0.24.2 ignores maxObjects and answers ContinueRetrievePropertiesEx with MethodNotFound, so
// the token loop is tested against recorded vCenter-shaped pages.
test('follows the token with ContinueRetrievePropertiesEx until the last page', async () => {
  const obj = (n: number): string =>
    `<objects><obj type="VirtualMachine">vm-${n}</obj><propSet><name>name</name><val xsi:type="xsd:string">web-${n}</val></propSet></objects>`;
  const pages = [
    `<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>${obj(1)}${obj(2)}<token>t-1</token></returnval></RetrievePropertiesExResponse>`,
    `<ContinueRetrievePropertiesExResponse xmlns="urn:vim25"><returnval>${obj(3)}${obj(4)}<token>t-2</token></returnval></ContinueRetrievePropertiesExResponse>`,
    `<ContinueRetrievePropertiesExResponse xmlns="urn:vim25"><returnval>${obj(5)}</returnval></ContinueRetrievePropertiesExResponse>`,
  ];
  const calls: string[] = [];
  const fake = {
    serviceContent: async () => ({ propertyCollector: { type: 'PropertyCollector', value: 'propertyCollector' } }),
    call: async (method: string, inner: string) => {
      calls.push(`${method}:${/<token>([^<]*)<\/token>/.exec(inner)?.[1] ?? /<maxObjects>(\d+)/.exec(inner)?.[1]}`);
      return child(parseEnvelope(ENV(pages[calls.length - 1]!)), `${method}Response`)!;
    },
  } as unknown as VimClient;
  const all = await retrieveAll(fake, '<propSet/>', 2);
  expect(all.map((o) => o.props.get('name')!.text)).toEqual(['web-1', 'web-2', 'web-3', 'web-4', 'web-5']);
  expect(calls).toEqual([
    'RetrievePropertiesEx:2',
    'ContinueRetrievePropertiesEx:t-1',
    'ContinueRetrievePropertiesEx:t-2',
  ]);
});

describe('parseXml (our SOAP reader)', () => {
  test('reads self-closing elements, CDATA, comments and single-quoted attributes', () => {
    const n = parseXml(
      `<?xml version="1.0"?><!-- c --><a x='1' y="&lt;2&gt;"><b/><c><![CDATA[<raw & text>]]></c><d>t<!-- skip -->u</d></a>`,
    )!;
    expect(n.attrs).toEqual({ x: '1', y: '<2>' });
    expect(n.children.map((c) => c.name)).toEqual(['b', 'c', 'd']);
    expect(child(n, 'c')!.text).toBe('<raw & text>');
    expect(child(n, 'd')!.text).toBe('tu');
  });

  test('a namespace declared on a parent applies to its descendants only', () => {
    const n = parseXml(
      '<a><b xmlns:q="http://www.w3.org/2001/XMLSchema-instance"><c q:type="X"/></b><d q:type="Y"/></a>',
    )!;
    expect(child(child(n, 'b'), 'c')!.xsiType).toBe('X');
    expect(child(n, 'd')!.xsiType).toBeUndefined();
    expect(child(n, 'd')!.attrs.type).toBe('Y');
  });

  test('truncated or unbalanced documents are errors, not partial trees', () => {
    expect(() => parseXml('<a><b></b>')).toThrow(/unterminated/);
    expect(() => parseXml('<a></a></b>')).toThrow(/unexpected closing/);
    expect(() => parseEnvelope('<html>proxy error</html>')).toThrow(/not a SOAP envelope/);
  });
});

/** A task's `info.error` as vCenter sends it: the fault with its fields, and vCenter's own text. */
const taskError = (fault: string, fields: string, text: string) =>
  faultFromTaskError(
    child(
      child(
        parseEnvelope(
          ENV(
            `<R xmlns="urn:vim25"><val xsi:type="LocalizedMethodFault"><fault xsi:type="${fault}">${fields}</fault><localizedMessage>${text}</localizedMessage></val></R>`,
          ),
        ),
        'R',
      ),
      'val',
    )!,
    'vSphere task task-31 (clone web-01 from template tpl-debian12) failed',
  );

test('NoPermission names the privilege and the object vCenter said, and who must grant what', () => {
  const e = taskError(
    'NoPermission',
    '<object type="Folder">group-v22</object><privilegeId>VirtualMachine.Provisioning.Clone</privilegeId>',
    'Permission to perform this operation was denied.',
  );
  expect(e.outcome).toBe('unauthorized');
  expect(e.message).toBe(
    'vSphere task task-31 (clone web-01 from template tpl-debian12) failed: NoPermission on Folder:group-v22 (privilegeId=VirtualMachine.Provisioning.Clone) - Permission to perform this operation was denied.; the vSphere user lacks the privilege VirtualMachine.Provisioning.Clone on Folder:group-v22: grant a role with it on that object (or a parent, propagated) to the user the site config names',
  );
});

test('each fault an operator meets in a task says what to do in the same line', () => {
  const cases: [string, string, string, RegExp][] = [
    [
      'InsufficientMemoryResourcesFault',
      '<unreserved>1073741824</unreserved><requested>4294967296</requested>',
      'The available Memory resources in the parent resource pool are insufficient for the operation.',
      /lacks the capacity .*lower cpu\/memoryMiB/,
    ],
    [
      'NoDiskSpace',
      '<file>[ds-fast] web-01/web-01.vmdk</file><datastore>ds-fast</datastore>',
      'There is not enough space on the file system for the selected operation.',
      /datastore ds-fast is full: .*placement\.datastore/,
    ],
    [
      'FileAlreadyExists',
      '<file>[ds-fast] web-01</file>',
      'Cannot complete the operation because the file or folder [ds-fast] web-01 already exists',
      /datastore browser/,
    ],
    [
      'TaskInProgress',
      '<task type="Task">task-30</task>',
      'Another task is already in progress.',
      /waited and tried again/,
    ],
    ['InvalidState', '', 'The operation is not allowed in the current state.', /check it in vCenter/],
    [
      'ManagedObjectNotFound',
      '<obj type="VirtualMachine">vm-44</obj>',
      "The object 'vim.VirtualMachine:vm-44' has already been deleted or has not been completely created",
      /VM was removed from vCenter after shipshape read it; run again/,
    ],
  ];
  for (const [fault, fields, text, advice] of cases) {
    const e = taskError(fault, fields, text);
    expect(e.message).toContain('clone web-01');
    expect(e.message).toContain(text);
    expect(e.message).toMatch(advice);
    expect(e.message).not.toContain('\n');
  }
  expect(taskError('TaskInProgress', '<task type="Task">task-30</task>', 'x')).toBeInstanceOf(TaskInProgressError);
});
