// Photo uploads by tus (tus-js-client), resumable byte-exactly across lost connections, app
// restarts and reboots: the upload URL is kept in IndexedDB as soon as the server makes it, and
// a restarted upload asks the server for its offset (HEAD) and sends only the rest. The original
// Blob stays on the tablet until the server lists the photo as stored.
import { Upload } from "tus-js-client";
import { type Api, Refused } from "../api";
import type { VisitPhotos } from "../schema/types";
import { type FieldDB, type PhotoRecord, photosToSend } from "../store";

/** tus PATCH size: a cut connection loses at most this much of a photo. */
export const CHUNK_BYTES = 1024 * 1024;

export interface UploadJob {
  photo: PhotoRecord & { blob: Blob };
  /** The tus endpoint (``<server>/uploads/``). */
  endpoint: string;
  /** The current access token (asked for before every request, so a refreshed one is used). */
  token: () => Promise<string | undefined>;
  /** The server made the upload: keep its URL. */
  onUrl: (url: string) => Promise<void>;
  onProgress: (sentBytes: number) => void;
}

/** A failed upload; ``status`` is the server's HTTP status when it answered. */
export class UploadFailed extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = "UploadFailed";
  }
}

/** Sends one photo; resolves when the server has every byte. */
export type Uploader = (job: UploadJob) => Promise<void>;

export const tusUploader: Uploader = (job) =>
  new Promise<void>((resolve, reject) => {
    const { photo } = job;
    const upload = new Upload(photo.blob, {
      endpoint: job.endpoint,
      uploadUrl: photo.upload_url ?? undefined,
      chunkSize: CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      // the upload URL lives in our own database (photos.upload_url), not in localStorage
      storeFingerprintForResuming: false,
      metadata: { sha256: photo.sha256, visit_id: photo.visit_id, kind: photo.kind, filename: photo.filename },
      onBeforeRequest: async (req) => {
        const token = await job.token();
        if (token) req.setHeader("Authorization", `Bearer ${token}`);
      },
      onUploadUrlAvailable: async () => {
        if (upload.url) await job.onUrl(upload.url);
      },
      onProgress: (sent) => job.onProgress(sent),
      onShouldRetry: (err) => {
        const status = err.originalResponse?.getStatus() ?? 0;
        // a final answer (refused, too large, not an image, unauthorised) is not retried here
        return !(status >= 400 && status < 500 && status !== 409 && status !== 423 && status !== 429);
      },
      onSuccess: () => resolve(),
      onError: (err) => {
        const status = (err as { originalResponse?: { getStatus(): number } | null }).originalResponse?.getStatus();
        reject(new UploadFailed(err.message, status ?? null));
      },
    });
    upload.start();
  });

export interface PhotoSummary {
  uploaded: number;
  rejected: number;
  failed: number;
  error: Error | null;
}

/**
 * Upload every photo not yet sent, oldest first. A photo the server refuses for good (not an
 * image, too large, not this worker's visit) is marked rejected with the reason and kept; a
 * network failure stops the round (the next sync resumes from the server's offset).
 */
export async function uploadPhotos(
  db: FieldDB,
  api: Api,
  uploader: Uploader,
  onCount: (uploaded: number) => void = () => {},
): Promise<PhotoSummary> {
  const summary: PhotoSummary = { uploaded: 0, rejected: 0, failed: 0, error: null };
  const endpoint = api.url("/uploads/");
  for (const photo of await photosToSend(db)) {
    if (photo.status === "uploaded" || !photo.blob) continue;
    const job: UploadJob = {
      photo: photo as PhotoRecord & { blob: Blob },
      endpoint,
      token: () => api.token(),
      onUrl: async (url) => {
        photo.upload_url = url;
        await db.photos.update(photo.sha256, { upload_url: url, status: "uploading" });
      },
      onProgress: (sent) => {
        void db.photos.update(photo.sha256, { sent_bytes: sent });
      },
    };
    try {
      try {
        await uploader(job);
      } catch (exc) {
        // an expired access token: refresh once and resume
        if (!(exc instanceof UploadFailed && exc.status === 401 && (await api.refresh()))) throw exc;
        await uploader(job);
      }
      await db.photos.update(photo.sha256, { status: "uploaded", sent_bytes: photo.size, error: null });
      summary.uploaded += 1;
      onCount(summary.uploaded);
    } catch (exc) {
      const status = exc instanceof UploadFailed ? exc.status : null;
      if (status !== null && status >= 400 && status < 500 && status !== 401 && status !== 429) {
        await db.photos.update(photo.sha256, { status: "rejected", error: (exc as Error).message });
        summary.rejected += 1;
        continue;
      }
      summary.failed += 1;
      summary.error = exc as Error;
      break;
    }
  }
  return summary;
}

/**
 * Ask the server about every photo whose bytes were all sent: stored ones drop their Blob (the
 * record stays, so the form still shows the photo was taken), rejected ones keep it with the
 * server's reason. A visit the server no longer shows this worker keeps its photos as they are.
 */
export async function confirmPhotos(db: FieldDB, api: Api): Promise<number> {
  const waiting = await db.photos.where("status").equals("uploaded").toArray();
  const visits = new Set(waiting.map((p) => p.visit_id));
  let stored = 0;
  for (const visitId of visits) {
    let listing: VisitPhotos;
    try {
      listing = await api.get<VisitPhotos>(`/visits/${visitId}/photos`);
    } catch (exc) {
      if (exc instanceof Refused) continue;
      throw exc;
    }
    const bySha = new Map((listing.photos ?? []).map((p) => [p.sha256, p]));
    await db.transaction("rw", db.photos, async () => {
      for (const photo of waiting.filter((p) => p.visit_id === visitId)) {
        const server = bySha.get(photo.sha256);
        if (server?.status === "stored") {
          await db.photos.update(photo.sha256, { status: "stored", blob: null, error: null });
          stored += 1;
        } else if (server?.status === "rejected") {
          await db.photos.update(photo.sha256, { status: "rejected", error: server.reject_reason ?? "rejected" });
        }
      }
    });
  }
  return stored;
}
