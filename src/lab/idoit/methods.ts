/**
 * Method routing as i-doit does it (reference §1.7): `namespace.model.option`; in the cmdb namespace an
 * absent or unknown option falls back to `read` (so a typo like `cmdb.category.sav` reads).
 */
import {
  categoryArchive,
  categoryDelete,
  categoryPurge,
  categoryRead,
  dialogReadMethod,
  saveCategory,
} from './category-methods';
import { methodNotFound } from './errors';
import {
  objectArchive,
  objectCreate,
  objectDelete,
  objectPurge,
  objectRead,
  objectRecycle,
  objectsRead,
  objectUpdate,
} from './objects';
import type { Store } from './store';
import type { ApiVersion, VersionProfile } from './versions';

export interface EmulatorUser {
  username: string;
  password: string;
  userid?: string;
  name?: string;
  mail?: string;
}

export interface ResolvedOptions {
  tenant: string;
  publicUrl: string;
  uniqueIp: boolean;
  /** Tenant setting for unique SYSIDs (off in a stock i-doit). */
  uniqueSysid: boolean;
  /** Tenant setting `cmdb.quickpurge` (matters where the add-on version needs it for purges). */
  quickPurge: boolean;
  apiVersion: ApiVersion;
  profile: VersionProfile;
}

export interface Ctx {
  store: Store;
  opts: ResolvedOptions;
  user: EmulatorUser;
  language: string;
}

type Handler = (ctx: Ctx, params: Record<string, unknown>) => unknown;

const CMDB_OPTIONS = [
  'read',
  'create',
  'update',
  'delete',
  'quickpurge',
  'purge',
  'recycle',
  'archive',
  'markAsTemplate',
  'markAsMassChangeTemplate',
  'save',
  'getNetworksByIp',
];

const CMDB: Record<string, Record<string, Handler>> = {
  object: {
    create: objectCreate,
    read: objectRead,
    update: objectUpdate,
    archive: objectArchive,
    delete: objectDelete,
    purge: objectPurge,
    recycle: objectRecycle,
  },
  objects: { read: objectsRead },
  category: {
    read: categoryRead,
    save: saveCategory,
    archive: categoryArchive,
    delete: categoryDelete,
    purge: categoryPurge,
  },
  dialog: { read: dialogReadMethod },
};

export function versionResult(ctx: Ctx): unknown {
  const u = ctx.user;
  return {
    login: {
      userid: u.userid ?? '',
      name: u.name ?? u.username,
      mail: u.mail ?? '',
      username: u.username,
      tenant: ctx.opts.tenant,
      language: ctx.language,
    },
    version: ctx.opts.profile.coreVersion,
    step: '',
    type: 'PRO',
  };
}

/** The handler for a method name, or the −32601 error i-doit gives. `idoit.login/logout` are handled by the server. */
export function route(method: string): { handler: Handler; readOnly: boolean } {
  const parts = method.split('.');
  if (parts.length < 2 || parts.some((x) => x === '')) {
    throw methodNotFound('Request Method should be in this format: namespace.method (Example: cmdb.object)');
  }
  const [ns, model, option] = parts as [string, string, string | undefined];
  if (ns === 'idoit') {
    if (model === 'version') return { handler: versionResult, readOnly: true };
    throw methodNotFound(`API Method "${model}" (isys_api_model_idoit_${model}) does not exist.`);
  }
  if (ns !== 'cmdb') throw methodNotFound(`API Namespace "${ns}" (isys_api_model_${ns}) does not exist.`);
  const handlers = CMDB[model];
  if (!handlers) throw methodNotFound(`API Method "${model}" (isys_api_model_cmdb_${model}) does not exist.`);
  const action = option && CMDB_OPTIONS.includes(option) ? option : 'read';
  const handler = handlers[action];
  if (!handler) throw methodNotFound(`API Method "cmdb.${model}.${action}" is not available in this emulator.`);
  return { handler, readOnly: action === 'read' };
}
