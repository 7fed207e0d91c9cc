// QR codes: drawn as SVG paths (no image data, nothing inline for the CSP to refuse) and read
// from a photo or the camera, with npm "@paulmillr/qr" (one small dependency-free library for
// both directions).

import encodeQR from "@paulmillr/qr";
import decodeQR from "@paulmillr/qr/decode.js";
import { svg } from "./dom.js";

/** An <svg> QR code of `text` (`label` is its accessible name). */
export function qrSvg(text, label) {
  const bits = encodeQR(text, "raw", { ecc: "medium", border: 4 });
  const size = bits.length;
  let d = "";
  bits.forEach((row, y) => row.forEach((dark, x) => { if (dark) d += `M${x} ${y}h1v1h-1z`; }));
  const el = svg("svg", { viewBox: `0 0 ${size} ${size}`, class: "qr", role: "img", "aria-label": label,
    "shape-rendering": "crispEdges" },
  svg("rect", { width: size, height: size, fill: "#fff" }),
  svg("path", { d, fill: "#000" }));
  el.dataset.qrText = text;
  return el;
}

const MAX_SIDE = 1200;

function imageData(source, width, height) {
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(source, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

function decodeData(data) {
  try {
    return decodeQR({ width: data.width, height: data.height, data: data.data });
  } catch {
    return null;
  }
}

/** The text of the QR code in a photo (File/Blob), or null when none is found. */
export async function readQrFromFile(file) {
  const bitmap = await createImageBitmap(file);
  try {
    return decodeData(imageData(bitmap, bitmap.width, bitmap.height));
  } finally {
    bitmap.close?.();
  }
}

/**
 * Scan with the camera into `video` until a code is read or `stop()` is called; resolves with the
 * text (or null when stopped). Only getUserMedia: the CSP and Permissions-Policy allow the camera
 * for this origin alone.
 */
export function scanWithCamera(video) {
  let stopped = false;
  let stream = null;
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  const stop = () => {
    stopped = true;
    stream?.getTracks().forEach((track) => track.stop());
    video.srcObject = null;
    finish(null);
  };
  (async () => {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    if (stopped) return stop();
    video.srcObject = stream;
    await video.play();
    const tick = () => {
      if (stopped) return;
      if (video.videoWidth) {
        const text = decodeData(imageData(video, video.videoWidth, video.videoHeight));
        if (text) {
          stopped = true;
          stream.getTracks().forEach((track) => track.stop());
          video.srcObject = null;
          finish(text);
          return;
        }
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })().catch((error) => {
    stopped = true;
    finish(Promise.reject(error));
  });
  return { done, stop };
}

/** A receipt code from scanned text: a portal URL (…/trace/CODE) or the bare code. */
export function codeFromScan(text) {
  const match = /\/trace\/([0-9A-Za-z-]+)/.exec(text);
  return (match ? match[1] : text).trim();
}
