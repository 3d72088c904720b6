/* What every page shares: the words of a refusal, and forms that take a while saying so. */
(function () {
  "use strict";

  /* What a page says when the server refuses: the error in the reader's language (`display`, from
   * webapp.errors.ERROR_TEXT) when the server has words for it, else its message, else the page's fallback. */
  window.gridlinkError = function (answer, fallback) {
    var error = (answer && answer.error) || {};
    return error.display || error.message || fallback;
  };

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
})();
