/* The console's own script, loaded on every page. What htmx would otherwise evaluate itself:
   its trigger filters need eval, which the Content-Security-Policy forbids (web/security.py).
   An input with data-enough="N" fires the event "enough" when its value reaches N characters
   or is emptied, for hx-trigger="enough changed delay:300ms"; a change inside an element with
   data-check-on-change="ID" checks the box ID. */
document.addEventListener("input", function (event) {
  var field = event.target;
  if (!(field instanceof HTMLInputElement) || !field.dataset.enough) { return; }
  var least = parseInt(field.dataset.enough, 10);
  if (!field.value || field.value.length >= least) {
    field.dispatchEvent(new CustomEvent("enough"));
  }
});

document.addEventListener("change", function (event) {
  var inside = event.target instanceof Element && event.target.closest("[data-check-on-change]");
  if (!inside) { return; }
  var box = document.getElementById(inside.getAttribute("data-check-on-change"));
  if (box) { box.checked = true; }
});
