// A refused line (422) or one changed meanwhile (409) comes back as its row with the reason:
// show it in place like a saved one.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status === 409 || status === 422) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
