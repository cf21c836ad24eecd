// IndexedDB for Node: every test file gets a fresh, real (spec-conformant) in-memory IndexedDB.
import "fake-indexeddb/auto";
