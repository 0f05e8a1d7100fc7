// Bytes kept in the browser (IndexedDB) under a name that says what they are, so that the ONNX runtime's WASM
// and each decoder cross the network once per browser, not once per page visit: Streamlit serves a component's
// files without validators (Cache-Control "public" only), so the HTTP cache cannot keep them. Whatever fails here
// (private windows, quotas, no IndexedDB) only means the bytes are fetched or sent again.

const DATABASE = "genviz";
const STORE = "bytes";

let opened: Promise<IDBDatabase | null> | null = null;

function database(): Promise<IDBDatabase | null> {
  opened ??= new Promise((resolve) => {
    try {
      const request = indexedDB.open(DATABASE, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(null);
      request.onblocked = () => resolve(null);
    } catch {
      resolve(null);
    }
  });
  return opened;
}

/** The bytes stored as `name`, or null. */
export async function load(name: string): Promise<Uint8Array | null> {
  const db = await database();
  if (!db) return null;
  return new Promise((resolve) => {
    try {
      const request = db.transaction(STORE, "readonly").objectStore(STORE).get(name);
      request.onsuccess = () => resolve(request.result instanceof ArrayBuffer ? new Uint8Array(request.result) : null);
      request.onerror = () => resolve(null);
    } catch {
      resolve(null);
    }
  });
}

/** Store a copy of `bytes` as `name`, replacing what was there; failures are ignored. */
export async function save(name: string, bytes: Uint8Array): Promise<void> {
  const db = await database();
  if (!db) return;
  await new Promise<void>((resolve) => {
    try {
      const transaction = db.transaction(STORE, "readwrite");
      transaction.objectStore(STORE).put(bytes.slice().buffer, name);
      transaction.oncomplete = transaction.onerror = transaction.onabort = () => resolve();
    } catch {
      resolve();
    }
  });
}
