import { clearSecrets, registerSecret } from '../redact';
import { redact, redactJson, redactRecord } from './redact';

/** The definition redactRecord is written to match: a JSON.parse reviver over the record's JSON. */
function reference<T>(value: T, clean: (s: string) => string): T {
  return JSON.parse(JSON.stringify(value) ?? 'null', (_k, v: unknown) => (typeof v === 'string' ? clean(v) : v)) as T;
}

test('every string value of a stored record is redacted, keys and the JSON shape stay as JSON makes them', () => {
  const record = {
    kind: 'apply',
    startedAt: new Date(0),
    note: undefined,
    'password=x': 'the key stays as it is',
    outcomes: [
      { error: { message: 'ssh: login failed, password=hunter22 refused' } },
      { error: { message: 'curl -H "Authorization: Bearer abcdefghijklmnop"' } },
      'root:$6$saltsalt$abcdefghijklmnopqrstuv stored',
      null,
      undefined,
      7,
    ],
    nested: JSON.parse('{"__proto__": {"token": "token=abc123"}, "same": "password=hunter22"}') as unknown,
  };
  const out = redactRecord(record);
  const text = JSON.stringify(out);
  for (const secret of ['hunter22', 'abcdefghijklmnop', 'saltsalt', 'abc123']) expect(text).not.toContain(secret);
  expect(text).toContain('"password=x":"the key stays as it is"');
  expect(out.startedAt).toBe('1970-01-01T00:00:00.000Z');
  expect(out).toEqual(reference(record, (s) => redactRecord(s)));
  expect(Object.keys(out.nested as object)).toEqual(['__proto__', 'same']);
  // The record handed in is left as it was.
  expect(record.outcomes[0]).toEqual({ error: { message: 'ssh: login failed, password=hunter22 refused' } });
});

test('the stored JSON text is the redacted record as JSON writes it, for values with escapes, secrets and URL credentials', () => {
  registerSecret('s3cr3t-vcenter');
  try {
    const record = {
      id: 4,
      plan: {
        actions: [
          { system: 'web-01', reason: 'unchanged', note: 'line one\nwith "quotes" and password="hunter22"' },
          { system: 'web-02', error: 'login to https://admin:tok3n@vc.example.org/sdk refused' },
          { system: 'web-03', error: 'vSphere said: s3cr3t-vcenter is wrong', token: 'a plain value' },
          { 's3cr3t-vcenter': 'a key is never changed', password: 'x', tab: '\tBearer abcdefghijk' },
        ],
      },
      when: new Date(0),
      gone: undefined,
      list: ['$6$saltsalt$abcdefghijklmnop', 'nothing here', null, 3],
    };
    const text = redactJson(record);
    expect(text).toBe(JSON.stringify(reference(record, redact)));
    for (const secret of ['hunter22', 'tok3n', 'abcdefghijk', 'saltsalt']) expect(text).not.toContain(secret);
    expect(text).toContain('"s3cr3t-vcenter":"a key is never changed"');
    expect(text).not.toContain('vSphere said: s3cr3t-vcenter');
  } finally {
    clearSecrets();
  }
});

test('a record without anything to redact is stored as JSON writes it', () => {
  const record = { kind: 'plan', plan: { actions: [{ system: 'db-01', to: 'unchanged', n: 1.5 }] } };
  expect(redactJson(record)).toBe(JSON.stringify(record));
});
