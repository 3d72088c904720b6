/* What every page shares: the words of a refusal, and forms that take a while saying so. */
(function () {
  "use strict";

  /* What a page says when the server refuses: the error in the reader's language (`display`, from
   * webapp.errors.ERROR_TEXT) when the server has words for it, else its message, else the page's fallback. */
  window.gridlinkError = function (answer, fallback) {
    var error = (answer && answer.error) || {};
    return error.display || error.message || fallback;
  };

  /* A page answering a refused POST (a form shown again with its errors) names its own address: the address
   * bar shows it, so a reload reads the page instead of posting the form again. */
  var canonical = document.querySelector("link[rel=canonical][data-replace-url]");
  if (canonical && window.location.href !== canonical.href) { window.history.replaceState(null, "", canonical.href); }

  /* Photos chosen for a half-typed report, kept in IndexedDB under this tab and the draft's name (a file
   * field is emptied by a reload, and sessionStorage holds text only). Any failure (a private window without
   * IndexedDB, say) only means the photo is not kept, as before. */
  var PHOTO_DB = "gridlink-draft-photos";
  var PHOTO_KEEP_MS = 12 * 3600 * 1000;  // a tab closed without 退出 leaves its draft's photos: gone after this

  /* Drops the drafts kept longer than PHOTO_KEEP_MS (any tab's), in the transaction of a new one. */
  function pruneOld(store) {
    store.openCursor().onsuccess = function (event) {
      var cursor = event.target.result;
      if (!cursor) { return; }
      if (!cursor.value.at || Date.now() - cursor.value.at > PHOTO_KEEP_MS) { cursor.delete(); }
      cursor.continue();
    };
  }

  function photoStore(mode, work) {
    return new Promise(function (resolve) {
      if (!window.indexedDB) { resolve(null); return; }
      var opening = window.indexedDB.open(PHOTO_DB, 1);
      opening.onupgradeneeded = function () { opening.result.createObjectStore("photos"); };
      opening.onerror = function () { resolve(null); };
      opening.onsuccess = function () {
        var db = opening.result, tx = db.transaction("photos", mode), request = work(tx.objectStore("photos"));
        tx.oncomplete = function () { db.close(); resolve(request.result); };
        tx.onerror = tx.onabort = function () { db.close(); resolve(null); };
      };
    });
  }

  /* This tab's name for its drafts, drawn when it first keeps one: a tab that never did has nothing kept. */
  function tab(draw) {
    var name = window.sessionStorage.getItem("gridlink.tab");
    if (!name && draw) {
      name = String(Date.now()) + Math.random().toString(16).slice(2);
      window.sessionStorage.setItem("gridlink.tab", name);
    }
    return name;
  }

  window.gridlinkDraftPhotos = function (draft) {
    function key(draw) { return tab(draw) + ":" + draft; }
    return {
      keep: function (files) {
        var list = Array.prototype.slice.call(files || []);
        return photoStore("readwrite", function (store) {
          pruneOld(store);
          return list.length ? store.put({at: Date.now(), files: list}, key(true)) : store.delete(key(false));
        });
      },
      drop: function () {
        return tab(false) ? photoStore("readwrite", function (store) { return store.delete(key(false)); }) : null;
      },
      /* Puts the kept photos back into `input`; resolves to whether there were any. */
      restore: function (input) {
        if (!tab(false)) { return Promise.resolve(false); }
        return photoStore("readonly", function (store) { return store.get(key(false)); }).then(function (kept) {
          var files = kept && kept.files;
          if (!files || !files.length || !window.DataTransfer) { return false; }
          var chosen = new DataTransfer();
          files.forEach(function (file) { chosen.items.add(file); });
          input.files = chosen.files;
          return true;
        });
      },
    };
  };

  /* Logging out leaves nothing typed or chosen in this tab behind (a half-typed case keeps its reporter's
   * contact and photos). */
  var logout = document.querySelector("form[data-logout]");
  if (logout) {
    logout.addEventListener("submit", function () {
      window.sessionStorage.clear();
      if (window.indexedDB) { window.indexedDB.deleteDatabase(PHOTO_DB); }
    });
  }

  /* A form[data-busy] (copying or drawing a layout, importing boundaries: seconds of server work) shows its
   * data-busy words on its button and cannot be sent twice while the next page loads. */
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    var button = form.querySelector("button[type=submit], button:not([type])");
    if (!button) { return; }
    var words = button.textContent;
    form.addEventListener("submit", function () {
      window.setTimeout(function () {  // after the submit has read the button (a disabled one is not sent)
        button.disabled = true;
        button.classList.add("busy");
        button.textContent = form.dataset.busy;
      });
    });
    // Back to this page from the browser's cache: the work is done, the button is a button again.
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted) { return; }
      button.disabled = false;
      button.classList.remove("busy");
      button.textContent = words;
    });
  });

  /* Phone cameras take photos of 10 MB and more; the server keeps at most 4096 px a side (grids.photos) and
   * refuses a photo over 8 MB only after the whole upload. A large picture is scaled down here first, as an
   * upright JPEG (the browser applies the EXIF orientation; transparency becomes white, as on the server),
   * smaller again while it is over TARGET_BYTES (a detailed scene compresses badly), so it uploads in
   * seconds and is accepted. One the browser cannot read (HEIC on a desktop, not a picture at all) goes as
   * it is, for the server to say what is wrong with it. */
  var MAX_SIDE = 4096;
  var SHRINK_OVER = 2 * 1024 * 1024;
  var TARGET_BYTES = 4 * 1024 * 1024;
  var TRIES = 4;

  function encode(bitmap, scale) {
    var canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    var context = canvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.88); });
  }

  function fit(bitmap, scale, tries) {
    return encode(bitmap, scale).then(function (blob) {
      if (!blob || blob.size <= TARGET_BYTES || tries <= 1) { return blob; }
      return fit(bitmap, scale * Math.sqrt(TARGET_BYTES / blob.size) * 0.95, tries - 1);
    });
  }

  /* The time the camera took a JPEG (EXIF DateTimeOriginal, and OffsetTimeOriginal when it wrote one) is
   * evidence the server keeps (grids.photos: an after-photo taken before the case was reported is flagged),
   * but a canvas copy has no EXIF. So the two tags, and nothing else (not the position, not the device, not
   * the orientation: the copy is upright already), are written into the copy with piexifjs, which is
   * loaded from vendor/ only when a photo is shrunk. */
  var PIEXIF_URL = (document.currentScript || {}).src;
  PIEXIF_URL = PIEXIF_URL && PIEXIF_URL.replace(/js\/page\.js(\?.*)?$/, "vendor/piexifjs/piexif.js");
  var EXIF_HEAD = 256 * 1024;  // the EXIF block comes first in a JPEG and holds at most 64 KB
  var OFFSET_TIME_ORIGINAL = 36881;  // Exif 2.31, after piexifjs 1.0.6 was written
  var piexifLoading = null;

  function loadPiexif() {
    piexifLoading = piexifLoading || new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = PIEXIF_URL;
      script.onload = function () {
        window.piexif.TAGS.Exif[OFFSET_TIME_ORIGINAL] = {name: "OffsetTimeOriginal", type: "Ascii"};
        resolve(window.piexif);
      };
      script.onerror = reject;
      document.head.appendChild(script);
    });
    return piexifLoading;
  }

  function binaryString(blob) {
    return blob.arrayBuffer().then(function (buffer) {
      var bytes = new Uint8Array(buffer), out = "";
      for (var i = 0; i < bytes.length; i += 32768) {
        out += String.fromCharCode.apply(null, bytes.subarray(i, i + 32768));
      }
      return out;
    });
  }

  function keepTakenTime(file, blob) {
    if (file.type !== "image/jpeg" || !PIEXIF_URL) { return Promise.resolve(blob); }
    return Promise.all([loadPiexif(), binaryString(file.slice(0, EXIF_HEAD))]).then(function (loaded) {
      var piexif = loaded[0], exif = piexif.load(loaded[1]).Exif, kept = {};
      [piexif.ExifIFD.DateTimeOriginal, OFFSET_TIME_ORIGINAL].forEach(function (tag) {
        if (exif[tag]) { kept[tag] = exif[tag]; }
      });
      if (!kept[piexif.ExifIFD.DateTimeOriginal]) { return blob; }
      return binaryString(blob).then(function (jpeg) {
        var out = piexif.insert(piexif.dump({Exif: kept}), jpeg), bytes = new Uint8Array(out.length);
        for (var i = 0; i < out.length; i++) { bytes[i] = out.charCodeAt(i); }
        return new Blob([bytes], {type: "image/jpeg"});
      });
    }).catch(function () { return blob; });  // a photo without a readable time goes without one
  }

  function shrink(file) {
    if (file.size <= SHRINK_OVER || !/^image\/(jpeg|png|webp)$/.test(file.type) || !window.createImageBitmap) {
      return Promise.resolve(file);
    }
    return window.createImageBitmap(file, {imageOrientation: "from-image"}).then(function (bitmap) {
      var scaled = fit(bitmap, Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height)), TRIES);
      scaled.then(function () { bitmap.close(); }, function () { bitmap.close(); });  // a phone's memory
      return scaled;
    }).then(function (blob) {
      return blob && keepTakenTime(file, blob);
    }).then(function (blob) {
      if (!blob || blob.size >= file.size) { return file; }
      return new File([blob], file.name.replace(/\.[^.]*$/, "") + ".jpg", {type: "image/jpeg"});
    }).catch(function () { return file; });
  }

  /* The files, large photos scaled down (a Promise of an array, in order). */
  window.gridlinkShrinkPhotos = function (files) {
    return Promise.all(Array.prototype.map.call(files || [], shrink));
  };

  /* A plain form[data-shrink-photos] (the phone's 处置反馈) sends its large photos scaled down: an upload past
   * the request limit would replace the page with an error and lose the typed note. It is sent once (a
   * second tap while photos shrink or upload would post again and meet its own 409); if shrinking fails the
   * photos go as they are. Give it data-busy to show that it is working. */
  document.querySelectorAll("form[data-shrink-photos]").forEach(function (form) {
    var sent = false;
    form.addEventListener("submit", function (event) {
      if (sent) { event.preventDefault(); return; }
      sent = true;
      var inputs = Array.prototype.filter.call(form.querySelectorAll("input[type=file]"), function (input) {
        return Array.prototype.some.call(input.files, function (file) { return file.size > SHRINK_OVER; });
      });
      if (!inputs.length || !window.DataTransfer) { return; }
      event.preventDefault();
      Promise.all(inputs.map(function (input) {
        return window.gridlinkShrinkPhotos(input.files).then(function (files) {
          var chosen = new DataTransfer();
          files.forEach(function (file) { chosen.items.add(file); });
          input.files = chosen.files;
        });
      })).catch(function () {}).then(function () { form.submit(); });
    });
    window.addEventListener("pageshow", function (event) { if (event.persisted) { sent = false; } });
  });
})();
