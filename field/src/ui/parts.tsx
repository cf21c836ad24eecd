// Pieces of the capture form: selects labelled from the catalog, photo inputs that keep the
// camera's file as a Blob with its SHA-256, thumbnails, and the signature pad.
import SignaturePad from "signature_pad";
import { useEffect, useRef, useState } from "preact/hooks";
import type { FieldApp } from "../app";
import type { PhotoKind } from "../schema";
import { addPhoto, PhotoRefused, type PhotoRecord } from "../store";
import { type CodeList, codes, label, t } from "./i18n";

export function Choice(props: {
  list: CodeList;
  value: string | null | undefined;
  onChange: (value: string | null) => void;
  only?: string[];
  empty?: string;
  disabled?: boolean;
  testid?: string;
}) {
  const options = props.only ?? codes(props.list);
  return (
    <select
      value={props.value ?? ""}
      disabled={props.disabled}
      data-testid={props.testid}
      onChange={(e) => props.onChange(e.currentTarget.value || null)}
    >
      {props.empty !== undefined && <option value="">{props.empty}</option>}
      {options.map((code) => (
        <option key={code} value={code}>
          {label(props.list, code)}
        </option>
      ))}
    </select>
  );
}

/**
 * A camera button: the file the tablet's camera gives is checked (an image, not over the limit),
 * hashed and kept in IndexedDB before ``onPhoto`` puts its hash into the form.
 */
export function PhotoInput(props: {
  app: FieldApp;
  visitId: string;
  kind: PhotoKind;
  onPhoto: (photo: PhotoRecord) => void;
  onRefused: (path: string, reason: string) => void;
  text?: string;
  disabled?: boolean;
  testid?: string;
}) {
  const pick = async (input: HTMLInputElement) => {
    const files = Array.from(input.files ?? []);
    input.value = "";
    for (const file of files) {
      try {
        const photo = await addPhoto(props.app.db, { blob: file, kind: props.kind, visitId: props.visitId, filename: file.name });
        props.onPhoto(photo);
      } catch (exc) {
        if (exc instanceof PhotoRefused) props.onRefused(`photos (${file.name})`, t("photo_refused", { r: exc.reason }));
        else throw exc;
      }
    }
    void props.app.engine.refresh();
  };
  return (
    <label class={`camera ${props.disabled ? "disabled" : ""}`}>
      <span>{props.text ?? t("take_photo")}</span>
      <input
        type="file"
        accept="image/*"
        capture="environment"
        multiple
        disabled={props.disabled}
        data-testid={props.testid ?? `photo-${props.kind}`}
        onChange={(e) => void pick(e.currentTarget)}
      />
    </label>
  );
}

/** A photo from IndexedDB (its Blob while the tablet still has it), or its upload state. */
export function Thumb({ record, onRemove, whole }: { record: PhotoRecord | undefined; onRemove?: () => void; whole?: boolean }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!record?.blob) return;
    const u = URL.createObjectURL(record.blob);
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [record?.sha256, Boolean(record?.blob)]);
  const stored = record?.status === "stored";
  return (
    <figure class={`thumb ${whole ? "whole" : ""}`} data-testid="thumb" data-sha256={record?.sha256}>
      {url ? <img src={url} alt="" /> : <div class="noimg">✓</div>}
      <figcaption>{stored ? t("photo_uploaded") : t("photo_waiting")}</figcaption>
      {onRemove && record?.status === "local" && (
        <button class="x" aria-label={t("remove")} onClick={onRemove}>
          ×
        </button>
      )}
    </figure>
  );
}

/** The head's signature drawn on the screen, kept as a PNG photo of kind ``signature``. */
export function SignatureBox(props: {
  app: FieldApp;
  visitId: string;
  onSigned: (photo: PhotoRecord) => void;
  onRefused: (path: string, reason: string) => void;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const pad = useRef<SignaturePad | null>(null);
  useEffect(() => {
    const el = canvas.current!;
    const ratio = Math.max(globalThis.devicePixelRatio || 1, 1);
    el.width = el.offsetWidth * ratio;
    el.height = el.offsetHeight * ratio;
    el.getContext("2d")!.scale(ratio, ratio);
    pad.current = new SignaturePad(el, { penColor: "#10233f", backgroundColor: "#ffffff" });
    return () => pad.current?.off();
  }, []);
  const keep = async () => {
    if (!pad.current || pad.current.isEmpty()) {
      props.onRefused("$.head_signature", t("signature_empty"));
      return;
    }
    const blob = await new Promise<Blob | null>((resolve) => canvas.current!.toBlob(resolve, "image/png"));
    if (!blob) return;
    const photo = await addPhoto(props.app.db, { blob, kind: "signature", visitId: props.visitId, filename: "signature.png" });
    props.onSigned(photo);
    void props.app.engine.refresh();
  };
  return (
    <div class="signature">
      <p class="hint">{t("sign_here")}</p>
      <canvas ref={canvas} data-testid="signature-pad" />
      <div class="row">
        <button onClick={() => pad.current?.clear()}>{t("signature_clear")}</button>
        <button class="primary" data-testid="signature-keep" onClick={() => void keep()}>
          {t("signature_keep")}
        </button>
      </div>
    </div>
  );
}
