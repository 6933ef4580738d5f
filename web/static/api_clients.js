/* The API clients page: the new key is selected, and copied with one click where the
   browser allows. */
(function () {
  var field = document.getElementById("api-key");
  var button = document.getElementById("copy-key");
  if (!field || !button) { return; }
  field.focus();
  field.select();
  if (!navigator.clipboard) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(function () {
      button.textContent = "Copied";
    });
  });
})();
