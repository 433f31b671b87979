/** Which objects are a system's: SYSID marker, description claim (add-ons that drop the SYSID), released duplicates. */
import { claimDescription, isReleased, releasedClaim, systemOf } from './marker';
import { assertNotReleased, ObjectReleasedError } from './system-object';

it("reads the system from the SYSID, or from the description claim when the SYSID is i-doit's own", () => {
  expect(systemOf('SHIPSHAPE-VM-web-01', '')).toBe('web-01');
  expect(systemOf('SYSID_1700001234', claimDescription('web-01', 'systems/web-01.yaml', 'abc123'))).toBe('web-01');
  // The WYSIWYG editor may wrap the description in HTML.
  expect(systemOf('SYSID_1700001234', '<p>shipshape-system=web-01</p><p>Managed by shipshape …</p>')).toBe('web-01');
  expect(systemOf('SYSID_1700001234', 'Managed by hand.\nshipshape-system=web-01')).toBeNull();
  expect(systemOf('SHIPSHAPE-OS-Debian_12', 'shipshape-system=web-01')).toBeNull();
  expect(systemOf('SYSID_1', undefined)).toBeNull();
});

it("no longer counts a released duplicate as the system's, whatever its SYSID says", () => {
  const released = releasedClaim('web-01', 1001);
  expect(isReleased(released)).toBe(true);
  expect(systemOf('SHIPSHAPE-VM-web-01', released)).toBeNull();
  expect(() => assertNotReleased(1002, [{ description: released }])).toThrow(ObjectReleasedError);
  expect(() =>
    assertNotReleased(1001, [{ description: claimDescription('web-01', 'systems/web-01.yaml') }]),
  ).not.toThrow();
});
