import { Store, PolystatError, ChangeEvent } from '../..';

async function main(): Promise<void> {
  const store = await Store.open({ relationalUrl: 'sqlite://x.db' });
  const catalog = await store.catalogs.create({ name: 'x' });
  const version: number | bigint = catalog.version;
  const page = await store.controls.list({ filter: { status: 'draft' }, limit: 5 });
  for (const item of page.items) console.log(item.id);
  for await (const c of store.computations) console.log(c.id);
  const sub = store.changes((e: ChangeEvent) => console.log(e.kind), ['computations']);
  sub.close();
  const { account, apiKey } = await store.serviceAccounts.createAccount({ name: 'a' });
  const stats = store.cacheStats();
  console.log(stats.tier1.hits, account.id, apiKey, version);
  try { await store.catalogs.get('x'); } catch (e) { if (e instanceof PolystatError) console.log(e.code, e.field, e.operation); }
  const tokens = await store.state.issueTokens('user-1', { role: 'viewer' }, 60, 3600);
  const claims = await store.state.verifyAccess(tokens.access_token);
  const session = await store.state.createSession({ cart: [] }, 60);
  const tested = await store.testDatasource('x');
  console.log(claims.subject, tokens.family_id, session.id, tested.status, tested.elapsed);
  store.changes(() => {}, null).close();
  console.log((await store.catalogs.list(null)).items.length);
  await store.close();
}
main();
