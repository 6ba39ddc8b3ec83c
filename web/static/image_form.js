// The image forms' input images (`/`, `/upscale`): a drop zone per image input
// (a file chosen or dropped replaces the image the page was opened with), the
// strength's shown value, and the inpainting mask painted with the mouse on a
// canvas over the image, sent as a PNG (white where repainted, black elsewhere)
// in the form's `mask_image` file input. A static file because the CSP allows no
// inline script; previews are data: URIs, which the CSP allows for images.
(function () {
  "use strict";

  function chooseFile(input, files) {
    if (!files || !files.length) {
      return;
    }
    const chosen = new DataTransfer();
    chosen.items.add(files[0]);
    input.files = chosen.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function setUpDropZone(zone) {
    const name = zone.dataset.imageInput;
    const input = document.getElementById(name);
    const source = document.getElementById(name + "_source");
    const preview = document.getElementById(name + "-preview");
    input.addEventListener("change", function () {
      const file = input.files[0];
      if (!file) {
        return;
      }
      source.value = ""; // the file replaces the image the page was opened with
      const reader = new FileReader();
      reader.onload = function () {
        preview.src = reader.result;
        preview.hidden = false;
      };
      reader.readAsDataURL(file);
    });
    zone.addEventListener("dragover", function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", function () {
      zone.classList.remove("dragging");
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dragging");
      chooseFile(input, event.dataTransfer.files);
    });
  }

  function setUpStrength() {
    const strength = document.getElementById("strength");
    const shown = document.getElementById("strength-value");
    if (!strength || !shown) {
      return;
    }
    strength.addEventListener("input", function () {
      shown.textContent = strength.value;
    });
  }

  // The mask canvas has the image's own size (its pixels are the mask's); it is
  // shown stretched over the image, so pointer positions are scaled to it.
  function setUpMask(form) {
    const canvas = document.getElementById("mask-canvas");
    const preview = document.getElementById("init_image-preview");
    const maskInput = document.getElementById("mask_image");
    if (!canvas || !preview || !maskInput) {
      return;
    }
    const context = canvas.getContext("2d");
    const brush = document.getElementById("brush-size");
    const erase = document.getElementById("mask-erase");
    let painting = false;
    let painted = false;

    function fitToImage() {
      canvas.width = preview.naturalWidth;
      canvas.height = preview.naturalHeight;
      canvas.hidden = false;
      painted = false; // a new image starts with an empty mask
    }
    preview.addEventListener("load", fitToImage);
    if (preview.complete && preview.naturalWidth) {
      fitToImage();
    }

    function point(event) {
      const box = canvas.getBoundingClientRect();
      return [
        ((event.clientX - box.left) * canvas.width) / box.width,
        ((event.clientY - box.top) * canvas.height) / box.height,
      ];
    }

    canvas.addEventListener("pointerdown", function (event) {
      painting = true;
      painted = true;
      canvas.setPointerCapture(event.pointerId);
      context.globalCompositeOperation = erase.checked ? "destination-out" : "source-over";
      context.strokeStyle = "#fff";
      context.lineWidth = Number(brush.value);
      context.lineCap = "round";
      context.lineJoin = "round";
      const [x, y] = point(event);
      context.beginPath();
      context.moveTo(x, y);
      context.lineTo(x, y); // a click paints a dot
      context.stroke();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!painting) {
        return;
      }
      const [x, y] = point(event);
      context.lineTo(x, y);
      context.stroke();
    });
    function stop() {
      painting = false;
    }
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
    document.getElementById("mask-clear").addEventListener("click", function () {
      context.clearRect(0, 0, canvas.width, canvas.height);
      painted = false;
    });

    // The canvas holds white strokes on transparency; the mask is them on black.
    function maskBlob(callback) {
      const mask = document.createElement("canvas");
      mask.width = canvas.width;
      mask.height = canvas.height;
      const maskContext = mask.getContext("2d");
      maskContext.fillStyle = "#000";
      maskContext.fillRect(0, 0, mask.width, mask.height);
      maskContext.drawImage(canvas, 0, 0);
      mask.toBlob(callback, "image/png");
    }

    form.addEventListener("submit", function (event) {
      const inpainting = form.querySelector('input[name="mode"][value="inpaint"]');
      if (!inpainting || !inpainting.checked || !painted) {
        return; // no mask: the server says one is needed
      }
      event.preventDefault();
      maskBlob(function (blob) {
        const file = new DataTransfer();
        file.items.add(new File([blob], "mask.png", { type: "image/png" }));
        maskInput.files = file.files;
        form.submit(); // submit() fires no second submit event
      });
    });
  }

  for (const zone of document.querySelectorAll("[data-image-input]")) {
    setUpDropZone(zone);
  }
  setUpStrength();
  const form = document.getElementById("submit-form");
  if (form) {
    setUpMask(form);
  }
})();
