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
  try { await store.catalogs.get('x'); } catch (e) { if (e instanceof PolystatError) console.log(e.code, e.field); }
  await store.close();
}
main();
