// Keyboard shortcuts of the rating page: digits score the highlighted criterion, arrows move, Enter saves.
(function () {
  const form = document.getElementById("rating-form");
  if (!form) return;
  const fieldsets = Array.from(form.querySelectorAll("fieldset.criterion"));
  let active = 0;

  function highlight(index) {
    active = Math.max(0, Math.min(fieldsets.length - 1, index));
    fieldsets.forEach((f, i) => f.classList.toggle("active", i === active));
  }

  function score(value) {
    const radio = fieldsets[active].querySelector(`input[value="${value}"]`);
    if (!radio) return false;
    radio.checked = true;
    highlight(active + 1);
    return true;
  }

  fieldsets.forEach((f, i) => f.addEventListener("click", () => highlight(i)));
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (/^[0-9]$/.test(event.key) && score(event.key)) {
      event.preventDefault();
    } else if (event.key === "ArrowDown") {
      highlight(active + 1); event.preventDefault();
    } else if (event.key === "ArrowUp") {
      highlight(active - 1); event.preventDefault();
    } else if (event.key === "Enter") {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  highlight(0);
})();
