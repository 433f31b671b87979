/**
 * Constants of a fresh i-doit install as far as the emulator needs them (reference §4.1, §4.2).
 * IDs differ between real installs; clients must send constants, the emulator accepts both.
 */

export interface ObjectType {
  id: number;
  const: string;
  title: string;
  group: string;
  image: string;
}

export const OBJECT_TYPES: ObjectType[] = [
  { id: 2, const: 'C__OBJTYPE__APPLICATION', title: 'Application', group: 'Software', image: 'empty.png' },
  { id: 4, const: 'C__OBJTYPE__ROUTER', title: 'Router', group: 'Hardware', image: 'router.png' },
  { id: 5, const: 'C__OBJTYPE__SERVER', title: 'Server', group: 'Hardware', image: 'server.png' },
  { id: 10, const: 'C__OBJTYPE__CLIENT', title: 'Client', group: 'Hardware', image: 'empty.png' },
  { id: 31, const: 'C__OBJTYPE__LAYER3_NET', title: 'Layer 3-Net', group: 'Infrastructure', image: 'empty.png' },
  { id: 35, const: 'C__OBJTYPE__OPERATING_SYSTEM', title: 'Operating System', group: 'Software', image: 'empty.png' },
  { id: 39, const: 'C__OBJTYPE__HOST', title: 'Host', group: 'Infrastructure', image: 'server.png' },
  { id: 55, const: 'C__OBJTYPE__CLUSTER', title: 'Cluster', group: 'Infrastructure', image: 'empty.png' },
  { id: 57, const: 'C__OBJTYPE__VIRTUAL_CLIENT', title: 'Virtual client', group: 'Infrastructure', image: 'empty.png' },
  { id: 58, const: 'C__OBJTYPE__VIRTUAL_HOST', title: 'Virtual host', group: 'Infrastructure', image: 'server.png' },
  {
    id: 59,
    const: 'C__OBJTYPE__VIRTUAL_SERVER',
    title: 'Virtual server',
    group: 'Infrastructure',
    image: 'server.png',
  },
  { id: 70, const: 'C__OBJTYPE__LAYER2_NET', title: 'Layer 2-Net', group: 'Infrastructure', image: 'empty.png' },
];

export function objectTypeBy(idOrConst: unknown): ObjectType | undefined {
  if (typeof idOrConst === 'number') return OBJECT_TYPES.find((t) => t.id === idOrConst);
  if (typeof idOrConst === 'string') {
    if (/^\d+$/.test(idOrConst)) return OBJECT_TYPES.find((t) => t.id === Number(idOrConst));
    return OBJECT_TYPES.find((t) => t.const === idOrConst);
  }
  return undefined;
}

/** Record status of objects and entries. */
export const STATUS = {
  BIRTH: 1,
  NORMAL: 2,
  ARCHIVED: 3,
  DELETED: 4,
  PURGE: 5,
  TEMPLATE: 6,
  MASS_TEMPLATE: 7,
} as const;
export const STATUS_CONSTANTS: Record<string, number> = {
  C__RECORD_STATUS__BIRTH: 1,
  C__RECORD_STATUS__NORMAL: 2,
  C__RECORD_STATUS__ARCHIVED: 3,
  C__RECORD_STATUS__DELETED: 4,
  C__RECORD_STATUS__PURGE: 5,
  C__RECORD_STATUS__TEMPLATE: 6,
  C__RECORD_STATUS__MASS_CHANGES_TEMPLATE: 7,
};

export interface DialogValue {
  id: number;
  title: string;
  const: string | null;
  titleLang?: string;
}

/** Dialog tables: fixed ones and Dialog+ ones (Dialog+ grows when a client writes an unknown title). */
export const DIALOG_TABLES: Record<string, { plus: boolean; values: DialogValue[] }> = {
  net_type: {
    plus: false,
    values: [
      { id: 1, title: 'IPv4 (Internet Protocol v4)', const: 'C__CATS_NET_TYPE__IPV4' },
      { id: 2, title: 'IPX', const: 'C__CATS_NET_TYPE__IPX' },
      { id: 3, title: 'AT', const: 'C__CATS_NET_TYPE__AT' },
      { id: 1000, title: 'IPv6 (Internet Protocol v6)', const: 'C__CATS_NET_TYPE__IPV6' },
    ],
  },
  ipv4_assignment: {
    plus: false,
    values: [
      { id: 1, title: 'DHCP', const: 'C__CATP__IP__ASSIGN__DHCP', titleLang: 'LC__CATP__IP__ASSIGN__DHCP' },
      { id: 2, title: 'static', const: 'C__CATP__IP__ASSIGN__STATIC', titleLang: 'LC__CATP__IP__ASSIGN__STATIC' },
      {
        id: 3,
        title: 'unnumbered',
        const: 'C__CATP__IP__ASSIGN__UNNUMBERED',
        titleLang: 'LC__CATP__IP__ASSIGN__UNNUMBERED',
      },
      {
        id: 1000,
        title: 'DHCP reserved',
        const: 'C__CATP__IP__ASSIGN__DHCP_RESERVED',
        titleLang: 'LC__CATP__IP__ASSIGN__DHCP_RESERVED',
      },
    ],
  },
  ipv6_assignment: {
    plus: false,
    values: [
      { id: 1, title: 'DHCPv6', const: 'C__CMDB__CATG__IP__DHCPV6', titleLang: 'LC__CMDB__CATG__IP__DHCPV6' },
      { id: 6, title: 'static', const: 'C__CMDB__CATG__IP__STATIC', titleLang: 'LC__CMDB__CATG__IP__STATIC' },
    ],
  },
  ipv6_scope: {
    plus: false,
    values: [
      {
        id: 1,
        title: 'Global Unicast',
        const: 'C__CMDB__CATG__IP__GLOBAL_UNICAST',
        titleLang: 'LC__CMDB__CATG__IP__GLOBAL_UNICAST',
      },
    ],
  },
  memory_unit: {
    plus: false,
    values: [
      { id: 1000, title: 'B', const: 'C__MEMORY_UNIT__B' },
      { id: 1, title: 'KB', const: 'C__MEMORY_UNIT__KB' },
      { id: 2, title: 'MB', const: 'C__MEMORY_UNIT__MB' },
      { id: 3, title: 'GB', const: 'C__MEMORY_UNIT__GB' },
      { id: 4, title: 'TB', const: 'C__MEMORY_UNIT__TB' },
    ],
  },
  frequency_unit: {
    plus: false,
    values: [
      { id: 1, title: 'KHz', const: 'C__FREQUENCY_UNIT__KHZ' },
      { id: 2, title: 'MHz', const: 'C__FREQUENCY_UNIT__MHZ' },
      { id: 3, title: 'GHz', const: 'C__FREQUENCY_UNIT__GHZ' },
      { id: 4, title: 'THz', const: 'C__FREQUENCY_UNIT__THZ' },
    ],
  },
  cmdb_status: {
    plus: false,
    values: [
      [1, 'planned', 'PLANNED'],
      [2, 'ordered', 'ORDERED'],
      [3, 'delivered', 'DELIVERED'],
      [4, 'assembled', 'ASSEMBLED'],
      [5, 'tested', 'TESTED'],
      [6, 'in operation', 'IN_OPERATION'],
      [7, 'defect', 'DEFECT'],
      [8, 'under repair', 'UNDER_REPAIR'],
      [9, 'delivered from repair', 'DELIVERED_FROM_REPAIR'],
      [10, 'inoperative', 'INOPERATIVE'],
      [11, 'stored', 'STORED'],
      [12, 'scrapped', 'SCRAPPED'],
    ].map(([id, title, c]) => ({ id: id as number, title: title as string, const: `C__CMDB_STATUS__${c as string}` })),
  },
  virtual_machine: {
    plus: false,
    values: [
      { id: 2, title: 'Yes', const: '' },
      { id: 3, title: 'No', const: '' },
    ],
  },
  dhcp_type: {
    plus: false,
    values: [
      { id: 1, title: 'dynamic', const: 'C__NET__DHCP_DYNAMIC' },
      { id: 2, title: 'reserved', const: 'C__NET__DHCP_RESERVED' },
    ],
  },
  virtualization_system: {
    plus: true,
    values: [
      'VMWare ESX',
      'VMWare Workstation',
      'VMWare Server',
      'Microsoft Hyper-V',
      'Citrix XenServer',
      'Parallels',
      'VirtualBox',
      'Solaris Zones',
      'IBM LPAR',
      'XEN',
      'KVM',
      'QEMU',
    ].map((title, i) => ({ id: i + 1, title, const: null })),
  },
  cpu_manufacturer: {
    plus: true,
    values: [
      { id: 1, title: 'AMD', const: null },
      { id: 2, title: 'Intel', const: null },
    ],
  },
  cpu_type: { plus: true, values: [] },
  memory_title: { plus: true, values: [] },
  memory_manufacturer: { plus: true, values: [] },
  memory_type: { plus: true, values: [] },
  filesystem: { plus: true, values: [] },
  purpose: {
    plus: true,
    values: [
      { id: 1, title: 'Production', const: null },
      { id: 2, title: 'Test', const: null },
    ],
  },
  object_category: { plus: true, values: [] },
  port_type: { plus: true, values: [{ id: 1, title: 'Ethernet', const: null }] },
};
