/* What a page says when the server refuses: the error in the reader's language (`display`, from
 * webapp.errors.ERROR_TEXT) when the server has words for it, else its message, else the page's fallback. */
window.gridlinkError = function (answer, fallback) {
  var error = (answer && answer.error) || {};
  return error.display || error.message || fallback;
};
