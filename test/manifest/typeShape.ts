/**
 * Structural fingerprints of TypeScript types, read with the compiler's type checker: the schema-drift
 * test compares the hand-written manifest types with types generated from schemas/*.json.
 */
import * as ts from 'typescript';

/** Canonical text of a type: keys (sorted, `?` for optional), index signatures, arrays, sorted unions. */
export function canonical(checker: ts.TypeChecker, type: ts.Type, depth = 0): string {
  if (depth > 12) return '…';
  if (type.isUnion()) {
    const parts = type.types.filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null))).map((t) => canonical(checker, t, depth + 1));
    return [...new Set(parts)].sort().join(' | ');
  }
  if (checker.isArrayType(type)) {
    const [elem] = checker.getTypeArguments(type as ts.TypeReference);
    return `(${canonical(checker, elem, depth + 1)})[]`;
  }
  if (type.flags & ts.TypeFlags.Object) {
    const parts = checker.getPropertiesOfType(type).map((p) => {
      const opt = p.flags & ts.SymbolFlags.Optional ? '?' : '';
      return `${p.name}${opt}: ${canonical(checker, checker.getNonNullableType(checker.getTypeOfSymbol(p)), depth + 1)}`;
    });
    const index = checker.getIndexInfoOfType(type, ts.IndexKind.String);
    if (index) parts.push(`[k]: ${canonical(checker, index.type, depth + 1)}`);
    return `{ ${parts.sort().join('; ')} }`;
  }
  return checker.typeToString(type);
}

/** Key tree: object keys and their sub-trees; arrays and unions look through to their object members. */
export interface KeyTree {
  [key: string]: KeyTree;
}

/** Types treated as a single value (a SecretRef is a string in the file, `{ ref }` after loading). */
export function keyTree(checker: ts.TypeChecker, type: ts.Type, leafNames: Set<string>, depth = 0): KeyTree {
  const out: KeyTree = {};
  if (depth > 12) return out;
  const sym = type.aliasSymbol ?? type.getSymbol();
  if (sym && leafNames.has(sym.name)) return out;
  const members = type.isUnion() ? type.types : [type];
  for (const m of members) {
    if (checker.isArrayType(m)) {
      Object.assign(out, keyTree(checker, checker.getTypeArguments(m as ts.TypeReference)[0], leafNames, depth + 1));
      continue;
    }
    if (!(m.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection))) continue;
    const index = checker.getIndexInfoOfType(m, ts.IndexKind.String);
    if (index) {
      // A map of named entries (nets): compare the entry shape under `*`; a map of plain values is a leaf.
      const values = keyTree(checker, index.type, leafNames, depth + 1);
      if (Object.keys(values).length > 0) out['*'] = values;
    }
    for (const p of checker.getPropertiesOfType(m)) {
      out[p.name] = keyTree(checker, checker.getNonNullableType(checker.getTypeOfSymbol(p)), leafNames, depth + 1);
    }
  }
  return out;
}

/** Paths present in one tree but not the other, as `a.b.c`. */
export function treeDiff(a: KeyTree, b: KeyTree, prefix = ''): { onlyA: string[]; onlyB: string[] } {
  const onlyA: string[] = [];
  const onlyB: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (!(k in b)) onlyA.push(p);
    else if (!(k in a)) onlyB.push(p);
    else {
      const sub = treeDiff(a[k], b[k], p);
      onlyA.push(...sub.onlyA);
      onlyB.push(...sub.onlyB);
    }
  }
  return { onlyA: onlyA.sort(), onlyB: onlyB.sort() };
}
