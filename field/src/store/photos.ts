// Photos on the tablet: the original bytes as a Blob with their SHA-256 (Web Crypto), kept
// until the server says the photo is stored; the storage quota and persistence.
import type { PhotoKind } from "../schema/types";
import type { FieldDB, PhotoRecord } from "./db";
import { hex } from "./digest";

/** The server's largest upload (RECHECK_UPLOAD_MAX_BYTES' default, the tus endpoint's Tus-Max-Size). */
export const PHOTO_MAX_BYTES = 41_943_040;

/** A photo the tablet refuses before storing it; ``path`` names the field. */
export class PhotoRefused extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = "PhotoRefused";
  }
}

// The formats the server's pipeline opens (JPEG, PNG, WebP, HEIC/HEIF), told by their first bytes.
function imageType(head: Uint8Array): string | null {
  const at = (offset: number, ...bytes: number[]) => bytes.every((b, i) => head[offset + i] === b);
  if (at(0, 0xff, 0xd8, 0xff)) return "image/jpeg";
  if (at(0, 0x89, 0x50, 0x4e, 0x47)) return "image/png";
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return "image/webp";
  if (at(4, 0x66, 0x74, 0x79, 0x70)) {
    const brand = String.fromCharCode(...head.slice(8, 12));
    if (["heic", "heix", "hevc", "heim", "heis", "mif1", "msf1"].includes(brand)) return "image/heic";
  }
  return null;
}

export async function sha256Hex(blob: Blob): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
}

export interface NewPhoto {
  blob: Blob;
  kind: PhotoKind;
  visitId: string;
  captureId?: string | null;
  filename?: string;
}

/**
 * Keep a photo from the camera input: refused (``PhotoRefused``) when it is not an image or over
 * the size limit; the same bytes twice are one photo. Returns its record (``sha256`` goes into
 * the capture's ``photos``).
 */
export async function addPhoto(db: FieldDB, photo: NewPhoto, maxBytes = PHOTO_MAX_BYTES): Promise<PhotoRecord> {
  const { blob } = photo;
  if (blob.size === 0) throw new PhotoRefused("photo", "the file is empty");
  if (blob.size > maxBytes) {
    throw new PhotoRefused("photo", `${(blob.size / 1048576).toFixed(1)} MB is over the ${maxBytes / 1048576} MB limit`);
  }
  const type = imageType(new Uint8Array(await blob.slice(0, 16).arrayBuffer()));
  if (!type) throw new PhotoRefused("photo", "not a JPEG, PNG, WebP or HEIC image");
  const sha256 = await sha256Hex(blob);
  return db.transaction("rw", db.photos, async () => {
    const existing = await db.photos.get(sha256);
    if (existing) return existing;
    const record: PhotoRecord = {
      sha256,
      blob,
      kind: photo.kind,
      visit_id: photo.visitId,
      capture_id: photo.captureId ?? null,
      filename: photo.filename ?? `${photo.kind}.${type.split("/")[1]}`,
      type,
      size: blob.size,
      created_at: new Date().toISOString(),
      status: "local",
      upload_url: null,
      sent_bytes: 0,
      error: null,
    };
    await db.photos.put(record);
    return record;
  });
}

export const photosForVisit = (db: FieldDB, visitId: string) => db.photos.where("visit_id").equals(visitId).toArray();
export const getPhoto = (db: FieldDB, sha256: string) => db.photos.get(sha256);

/** Photos still to upload or to confirm, oldest first. */
export async function photosToSend(db: FieldDB): Promise<PhotoRecord[]> {
  const rows = await db.photos.where("status").anyOf(["local", "uploading", "uploaded"]).toArray();
  return rows.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
}

/** Remove a photo the worker took by mistake: only while it is on the tablet alone. */
export async function deletePhoto(db: FieldDB, sha256: string): Promise<boolean> {
  return db.transaction("rw", db.photos, async () => {
    const photo = await db.photos.get(sha256);
    if (!photo || photo.status !== "local") return false;
    await db.photos.delete(sha256);
    return true;
  });
}

export interface StorageState {
  usage: number;
  quota: number;
  /** Bytes left before the browser refuses writes. */
  free: number;
  /** Under 200 MB or under 10 % left: warn before the tablet runs out of room. */
  low: boolean;
  persisted: boolean;
}

/** How much room the app has (``navigator.storage.estimate``); ``null`` where the browser cannot tell. */
export async function storageState(): Promise<StorageState | null> {
  const storage = globalThis.navigator?.storage;
  if (!storage?.estimate) return null;
  const { usage = 0, quota = 0 } = await storage.estimate();
  const free = Math.max(0, quota - usage);
  const persisted = storage.persisted ? await storage.persisted() : false;
  return { usage, quota, free, low: free < 200 * 1048576 || free < quota * 0.1, persisted };
}

/** Ask the browser not to evict the app's data under storage pressure (true when granted). */
export async function requestPersistence(): Promise<boolean> {
  const storage = globalThis.navigator?.storage;
  if (!storage?.persist) return false;
  if (storage.persisted && (await storage.persisted())) return true;
  return storage.persist();
}
