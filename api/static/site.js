// The pages' one script: small enhancements over pages that work without it.
// QR scanning (the browser's BarcodeDetector), Sign-In with Ethereum and redemption consent with a
// wallet in the browser (window.ethereum), smaller photos before upload, the venue kiosk's
// rotating code. Nothing is loaded from another host.
(function () {
  "use strict";

  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const messages = (document.getElementById("js-messages") || { dataset: {} }).dataset;

  function show(element, text) {
    if (!element) return;
    element.textContent = text;
    element.hidden = false;
    if (element.focus) { element.setAttribute("tabindex", "-1"); element.focus(); }
  }

  async function post(url, fields, accept) {
    const body = new URLSearchParams({ csrf: csrf, ...fields });
    const response = await fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: accept || "application/json" },
    });
    let answer = {};
    try { answer = await response.json(); } catch (e) { answer = {}; }
    if (!response.ok) throw new Error(answer.error || messages.network || "Error");
    return answer;
  }

  function utf8Hex(text) {
    return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ------------------------------------------------------------------ focus the form's error
  const formError = document.getElementById("form-error");
  if (formError) formError.focus();

  // ------------------------------------------------------------------ print buttons
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  });

  // ------------------------------------------------------------------ QR scanning
  const scanButtons = document.querySelectorAll("[data-scan]");
  const canScan = "BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
  let stream = null;
  let scanning = false;

  function stopScanning() {
    scanning = false;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    const box = document.getElementById("scanner");
    if (box) box.hidden = true;
  }

  function codeFrom(text, mode) {
    if (mode !== "claim") return text;
    try {
      const url = new URL(text, location.href);
      return url.searchParams.get("code") || text;
    } catch (e) {
      return text;
    }
  }

  async function startScanning(button) {
    const input = document.getElementById(button.dataset.scan);
    const box = document.getElementById("scanner");
    const video = document.getElementById("scanner-video");
    const status = document.getElementById("scanner-status");
    if (!input || !box || !video) return;
    try {
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      video.srcObject = stream;
      box.hidden = false;
      await video.play();
      if (status) status.textContent = messages.scanning || "";
      scanning = true;
      while (scanning) {
        const found = await detector.detect(video).catch(() => []);
        if (found.length) {
          input.value = codeFrom(found[0].rawValue, button.dataset.scanMode);
          stopScanning();
          if (input.form) input.form.requestSubmit();
          return;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    } catch (e) {
      stopScanning();
      if (status) { box.hidden = false; status.textContent = messages.cameraFailed || ""; }
      input.focus();
    }
  }

  // Shown only where the browser can read QR codes (desktop Linux and Windows have the API
  // without any format); elsewhere people type the code.
  if (canScan && scanButtons.length) {
    window.BarcodeDetector.getSupportedFormats().then((formats) => {
      if (!formats.includes("qr_code")) return;
      scanButtons.forEach((button) => {
        button.hidden = false;
        button.addEventListener("click", () => startScanning(button));
      });
      const stop = document.getElementById("scanner-stop");
      if (stop) stop.addEventListener("click", stopScanning);
    }).catch(() => {});
  }

  // ------------------------------------------------------------------ Sign-In with Ethereum
  const walletButton = document.getElementById("wallet-sign-in");
  if (walletButton && window.ethereum) {
    walletButton.hidden = false;
    const none = document.getElementById("no-wallet");
    if (none) none.hidden = true;
    walletButton.addEventListener("click", async () => {
      const error = document.getElementById("wallet-error");
      if (error) error.hidden = true;
      walletButton.disabled = true;
      try {
        const accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
        const prepared = await post("/me/sign-in/wallet/message", { address: accounts[0] });
        let signature;
        try {
          signature = await window.ethereum.request({
            method: "personal_sign",
            params: [utf8Hex(prepared.message), accounts[0]],
          });
        } catch (e) {
          throw new Error(messages.walletRefused || "The wallet did not sign.");
        }
        const done = await post("/me/sign-in/wallet", {
          message: prepared.message,
          signature: signature,
          next: walletButton.dataset.next || "/me",
        });
        location.assign(done.next);
      } catch (e) {
        show(error, e.message);
      } finally {
        walletButton.disabled = false;
      }
    });
  }

  // ------------------------------------------------------------------ redeeming with a wallet's consent
  document.querySelectorAll("form[data-wallet-redeem]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = document.getElementById("wallet-error");
      if (!window.ethereum) { show(error, messages.noWallet || ""); return; }
      const id = form.dataset.walletRedeem;
      try {
        const response = await fetch("/me/rewards/" + id + "/consent", { credentials: "same-origin" });
        const consent = await response.json();
        if (!response.ok) throw new Error(consent.error || messages.network);
        const accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
        let signature;
        try {
          signature = await window.ethereum.request({
            method: "eth_signTypedData_v4",
            params: [accounts[0], JSON.stringify(consent.typed_data)],
          });
        } catch (e) {
          throw new Error(messages.walletRefused || "The wallet did not sign.");
        }
        const done = await post(form.action, {
          signature: signature,
          deadline: String(consent.deadline),
          idem: (form.querySelector('input[name="idem"]') || {}).value || "",
        });
        location.assign(done.next);
      } catch (e) {
        show(error, e.message);
      }
    });
  });

  // ------------------------------------------------------------------ smaller photos, size check
  document.querySelectorAll("input[type=file][data-resize-photo]").forEach((input) => {
    input.addEventListener("change", async () => {
      const file = input.files && input.files[0];
      if (!file || file.size < 1_500_000 || !/^image\/(jpeg|png|webp)$/.test(file.type)) return;
      if (!window.createImageBitmap || !window.DataTransfer) return;
      try {
        const image = await createImageBitmap(file);
        const scale = Math.min(1, 2000 / Math.max(image.width, image.height));
        const canvas = document.createElement("canvas");
        canvas.width = Math.round(image.width * scale);
        canvas.height = Math.round(image.height * scale);
        canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
        const blob = await new Promise((r) => canvas.toBlob(r, "image/jpeg", 0.85));
        if (!blob || blob.size >= file.size) return;
        const smaller = new File([blob], file.name.replace(/\.[^.]+$/, "") + ".jpg", { type: "image/jpeg" });
        const transfer = new DataTransfer();
        transfer.items.add(smaller);
        input.files = transfer.files;
      } catch (e) {
        /* keep the original */
      }
    });
  });

  document.querySelectorAll("form[data-max-bytes]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      let total = 0;
      form.querySelectorAll("input[type=file]").forEach((input) => {
        Array.from(input.files || []).forEach((f) => { total += f.size; });
      });
      if (total > Number(form.dataset.maxBytes) - 64 * 1024) {
        event.preventDefault();
        let alert = form.querySelector(".size-alert");
        if (!alert) {
          alert = document.createElement("div");
          alert.className = "alert size-alert";
          alert.setAttribute("role", "alert");
          form.prepend(alert);
        }
        show(alert, form.dataset.tooBig);
      }
    });
  });

  // ------------------------------------------------------------------ the venue kiosk
  const kiosk = document.getElementById("kiosk");
  if (kiosk && document.getElementById("qr")) {
    const seconds = Math.max(2, Number(kiosk.dataset.interval) || 7.5);
    const qr = document.getElementById("qr");
    const link = document.getElementById("claim-link");
    const error = document.getElementById("kiosk-error");
    async function rotate() {
      try {
        const code = await post("/staff/events/" + kiosk.dataset.event + "/kiosk/code", {});
        qr.innerHTML = code.svg;
        link.href = code.url;
        link.textContent = code.url;
        link.dataset.code = code.code;
        error.hidden = true;
      } catch (e) {
        show(error, e.message);
      }
    }
    setInterval(rotate, seconds * 1000);
    const full = document.getElementById("fullscreen");
    if (full) {
      if (!document.documentElement.requestFullscreen) full.hidden = true;
      full.addEventListener("click", () => document.documentElement.requestFullscreen().catch(() => {}));
    }
  }
})();
