// The configuration editor of quote lines in the admin. For each line whose product is configurable, it requests
// the allowed options for the current choice from the staff-only guide view and draws the groups with their
// options. It marks options that rules exclude, lists every broken rule, and writes the choice back into the
// line's configuration field as JSON. Without JavaScript the JSON field stays editable by hand.
"use strict";

(function () {
    // Read once the page is parsed, because the admin loads this script in the head.
    let guideUrl = "";

    function readSelection(textarea) {
        try {
            const value = JSON.parse(textarea.value || "{}");
            return value && typeof value === "object" && !Array.isArray(value) ? value : {};
        } catch (error) {
            return {};
        }
    }

    function element(tag, attributes, text) {
        const node = document.createElement(tag);
        Object.entries(attributes || {}).forEach(([name, value]) => node.setAttribute(name, value));
        if (text !== undefined) {
            node.textContent = text;
        }
        return node;
    }

    function render(editor, textarea, data) {
        editor.replaceChildren();
        if (!data.configurable) {
            textarea.closest(".form-row").classList.remove("quote-configuration-hidden");
            return;
        }
        textarea.closest(".form-row").classList.add("quote-configuration-hidden");
        const status = element("p", {class: data.valid ? "quote-config-valid" : "quote-config-invalid"},
            data.valid ? "The configuration is complete and valid." : "The configuration is not complete yet:");
        editor.append(status);
        if (!data.valid) {
            const list = element("ul", {class: "quote-config-violations"});
            data.violations.forEach((violation) => list.append(element("li", {}, violation.message)));
            editor.append(list);
        }
        data.groups.forEach((group) => {
            const fieldset = element("fieldset", {class: "quote-config-group", "data-group": group.code});
            const limits = group.max_choices === null ? `at least ${group.min_choices}`
                : `${group.min_choices} to ${group.max_choices}`;
            fieldset.append(element("legend", {}, `${group.name} (choose ${limits})`));
            group.options.forEach((option) => {
                const row = element("div", {class: "quote-config-option" + (option.allowed ? "" : " quote-config-blocked")});
                const id = `${textarea.id}-${option.code}`;
                const single = group.max_choices === 1;
                const input = element("input", {
                    type: single ? "radio" : "checkbox",
                    id: id,
                    name: `${textarea.id}-${group.code}`,
                    "data-option": option.code,
                });
                input.checked = option.selected;
                input.disabled = !option.allowed && !option.selected;
                const label = element("label", {for: id}, option.name);
                row.append(input, label);
                const quantity = element("input", {
                    type: "number", min: "1", max: String(option.max_quantity), class: "quote-config-quantity",
                    "aria-label": `Quantity of ${option.name}`, "data-quantity-for": option.code,
                });
                quantity.value = String(option.selected ? option.quantity : option.suggested_quantity);
                if (option.max_quantity > 1) {
                    row.append(quantity);
                }
                if (option.reasons.length) {
                    row.append(element("span", {class: "quote-config-reason"}, option.reasons.join(" ")));
                }
                input.addEventListener("change", () => {
                    // The field holds the latest choice; a drawing may lag behind a fast user.
                    const next = readSelection(textarea);
                    if (single) {
                        group.options.forEach((other) => delete next[other.code]);
                    }
                    if (input.checked) {
                        next[option.code] = Number(quantity.value) || option.suggested_quantity;
                    } else {
                        delete next[option.code];
                    }
                    update(editor, textarea, next);
                });
                quantity.addEventListener("change", () => {
                    if (input.checked) {
                        update(editor, textarea, {...readSelection(textarea), [option.code]: Number(quantity.value) || 1});
                    }
                });
                fieldset.append(row);
            });
            editor.append(fieldset);
        });
    }

    function productId(container) {
        const select = container.querySelector("select[name$='-product']");
        return select ? select.value : "";
    }

    function update(editor, textarea, selection) {
        if (selection !== undefined) {
            textarea.value = Object.keys(selection).length ? JSON.stringify(selection) : "";
        }
        const product = productId(editor.closest(".inline-related"));
        if (!product) {
            editor.replaceChildren();
            return;
        }
        const query = new URLSearchParams({product: product, configuration: JSON.stringify(readSelection(textarea))});
        // Only the response to the latest request is drawn, as responses may arrive out of order.
        const ticket = (editor.ticket || 0) + 1;
        editor.ticket = ticket;
        editor.classList.add("quote-config-loading");
        fetch(`${guideUrl}?${query}`, {credentials: "same-origin", headers: {Accept: "application/json"}})
            .then((response) => response.json())
            .then((data) => {
                if (ticket === editor.ticket) {
                    render(editor, textarea, data);
                }
            })
            .catch(() => {
                if (ticket === editor.ticket) {
                    editor.replaceChildren(element("p", {class: "quote-config-invalid"},
                        "The option list could not be loaded; edit the configuration JSON by hand."));
                }
            })
            .finally(() => {
                if (ticket === editor.ticket) {
                    editor.classList.remove("quote-config-loading");
                }
            });
    }

    function attach(container) {
        const textarea = container.querySelector("textarea[name$='-configuration']");
        if (!textarea || textarea.name.includes("__prefix__") || textarea.dataset.configurator) {
            return;
        }
        textarea.dataset.configurator = "on";
        const editor = element("div", {class: "quote-configurator"});
        textarea.closest(".form-row").after(editor);
        const select = container.querySelector("select[name$='-product']");
        if (select) {
            const changed = () => update(editor, textarea, {});
            select.addEventListener("change", changed);
            // The admin's autocomplete widget announces changes through jQuery only.
            if (window.django && window.django.jQuery) {
                window.django.jQuery(select).on("change", changed);
            }
        }
        update(editor, textarea);
    }

    function attachAll() {
        const settings = document.getElementById("quote-configurator-settings");
        if (!settings) {
            return;
        }
        guideUrl = settings.dataset.guideUrl;
        document.querySelectorAll(".inline-related").forEach(attach);
    }

    document.addEventListener("formset:added", (event) => {
        if (guideUrl) {
            attach(event.target);
        }
    });
    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", attachAll);
    } else {
        attachAll();
    }
})();
