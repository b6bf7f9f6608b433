/** A regular expression (JavaScript, Java or Erlang's PCRE) matching `text` literally. */
export function literal(text: string): string {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
