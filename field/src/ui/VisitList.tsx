// Today's visits in route order (planned for today, or not yet planned for a day), each with what
// is still unsent for it, a server refusal or a supervisor's return comment; and the storage room.
import { useEffect, useState } from "preact/hooks";
import type { FieldApp } from "../app";
import { listVisits, storageState, type StorageState, type VisitView } from "../store";
import type { SyncStatus } from "../sync";
import { go, megabytes, today, useLive } from "./hooks";
import { label, t } from "./i18n";

function VisitCard({ view, stop, photosUnsent }: { view: VisitView; stop: number; photosUnsent: number }) {
  const { visit, household, draft } = view;
  const state = visit.data.state;
  const returned = state === "returned";
  // the server's state says it once the visit is in; before that the tablet's draft does
  const reviewed = state === "submitted" || state === "accepted";
  const submitted = Boolean(draft?.submitted) && !returned && !reviewed && !view.rejected.length;
  const members = household?.data.members?.length ?? 0;
  return (
    <li>
      <button
        class={`visit-card ${returned ? "is-returned" : ""} ${view.rejected.length ? "is-rejected" : ""}`}
        data-testid="visit"
        data-visit-id={visit.id}
        onClick={() => go(`/visit/${visit.id}`)}
      >
        <span class="stop">{t("route_no", { n: visit.data.route_order ?? stop })}</span>
        <span class="head">{household?.data.head_name ?? "—"}</span>
        <span class="addr">{household?.data.address ?? ""}</span>
        <span class="meta">
          {t("members_n", { n: members })} · {label("category", household?.data.category)} · {t("due", { d: visit.data.due_on })}
        </span>
        <span class="badges">
          <span class={`badge state-${visit.data.state}`} data-testid="visit-state">
            {label("state", visit.data.state)}
          </span>
          {draft && !submitted && !reviewed && <span class="badge draft">{t("draft")}</span>}
          {submitted && <span class="badge done">{t("submitted")}</span>}
          {view.pending > 0 && (
            <span class="badge pending" data-testid="visit-pending">
              {t("waiting_send", { n: view.pending })}
            </span>
          )}
          {photosUnsent > 0 && (
            <span class="badge pending" data-testid="visit-photos">
              {t("photos_missing", { n: photosUnsent })}
            </span>
          )}
          {view.rejected.length > 0 && <span class="badge bad">{t("rejected")}</span>}
        </span>
        {returned && visit.data.return_comment && (
          <span class="comment" data-testid="return-comment">
            {t("returned_comment")}
            {visit.data.return_comment}
          </span>
        )}
      </button>
    </li>
  );
}

export function StoragePanel({ status }: { status: SyncStatus }) {
  const [state, setState] = useState<StorageState | null>(null);
  useEffect(() => {
    void storageState().then(setState);
  }, [status.unsent.total, status.phase]);
  if (!state) return null;
  return (
    <section class={`storage ${state.low ? "low" : ""}`} data-testid="storage" data-low={state.low}>
      <span>
        {t("storage")}：{t("storage_line", { used: megabytes(state.usage), free: megabytes(state.free) })}
      </span>
      <meter min={0} max={state.quota || 1} value={state.usage} />
      <span class="persist">{state.persisted ? t("storage_persisted") : t("storage_not_persisted")}</span>
      {state.low && (
        <strong class="banner warn" role="alert" data-testid="storage-low">
          {t("storage_low")}
        </strong>
      )}
    </section>
  );
}

export function VisitList({ app, status }: { app: FieldApp; status: SyncStatus }) {
  const day = today();
  const views = useLive(() => listVisits(app.db, day), [app, day]);
  // photos not yet stored on the server, by visit: the tablet's own, and any the server still lacks
  const photos = useLive(() => app.db.photos.toArray(), [app]) ?? [];
  const unsentPhotos = (view: VisitView): number => {
    const mine = photos.filter((p) => p.visit_id === view.visit.id);
    const stored = new Set(mine.filter((p) => p.status === "stored").map((p) => p.sha256));
    const waiting = new Set(mine.filter((p) => p.status !== "stored").map((p) => p.sha256));
    for (const sha of view.missingPhotos) if (!stored.has(sha)) waiting.add(sha);
    return waiting.size;
  };
  return (
    <main class="list">
      <h1>
        {t("today")} <small>{day}</small>
      </h1>
      {views && views.length === 0 && <p class="empty">{t("no_visits")}</p>}
      <ol class="visits" data-testid="visits">
        {(views ?? []).map((view, i) => (
          <VisitCard key={view.visit.id} view={view} stop={i + 1} photosUnsent={unsentPhotos(view)} />
        ))}
      </ol>
      <StoragePanel status={status} />
    </main>
  );
}
