// "Todas / Ninguna" for a fieldset of checkboxes: each button marked data-checks="all" or
// "none" sets every checkbox of its fieldset. The buttons are hidden until this script runs,
// so the form works the same without JavaScript (every box can still be ticked one by one).
document.querySelectorAll("[data-checks]").forEach((button) => {
  const fieldset = button.closest("fieldset");
  if (!fieldset) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    const checked = button.dataset.checks === "all";
    fieldset.querySelectorAll("input[type=checkbox]").forEach((box) => {
      box.checked = checked;
    });
    const count = fieldset.querySelector("[data-checks-count]");
    if (count) count.textContent = String(checked ? fieldset.querySelectorAll("input[type=checkbox]").length : 0);
  });
});
