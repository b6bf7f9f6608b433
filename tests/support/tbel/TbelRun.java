import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.mvel2.ExecutionContext;
import org.mvel2.MVEL;
import org.mvel2.ParserContext;
import org.mvel2.SandboxedParserConfiguration;
import org.mvel2.execution.ExecutionHashMap;
import org.mvel2.util.MethodStub;

/**
 * Runs a rule-node script with ThingsBoard's expression language (org.thingsboard:tbel, the
 * engine tb-node embeds) in its sandboxed mode, as a script node receives it: `msg` a map,
 * `metadata` a map of strings, `msgType` a string. Arguments: the script file, the message
 * type, then `msg.<key>=<number|"string"|true|false>` and `metadata.<key>=<string>` pairs.
 * Prints the result as JSON. `parseLong` is registered from the JDK, as ThingsBoard registers
 * its own parseLong(String) helper.
 */
public final class TbelRun {
    public static void main(String[] args) throws Exception {
        SandboxedParserConfiguration config = ParserContext.enableSandboxedMode();
        config.addImport("parseLong", new MethodStub(Long.class.getMethod("parseLong", String.class)));
        ExecutionContext context = new ExecutionContext(config, 5 * 1024 * 1024);
        Map<String, Object> msg = new LinkedHashMap<>();
        Map<String, Object> metadata = new LinkedHashMap<>();
        for (int i = 2; i < args.length; i++) {
            String pair = args[i];
            String key = pair.substring(pair.indexOf('.') + 1, pair.indexOf('='));
            String text = pair.substring(pair.indexOf('=') + 1);
            if (pair.startsWith("metadata.")) metadata.put(key, text);
            else msg.put(key, value(text));
        }
        Map<String, Object> vars = new LinkedHashMap<>();
        vars.put("msg", new ExecutionHashMap<>(msg, context));
        vars.put("metadata", new ExecutionHashMap<>(metadata, context));
        vars.put("msgType", args[1]);
        Serializable compiled = MVEL.compileExpression(Files.readString(Path.of(args[0])), new ParserContext(config));
        System.out.println(json(MVEL.executeTbExpression(compiled, context, vars)));
    }

    private static Object value(String text) {
        if (text.startsWith("\"")) return text.substring(1, text.length() - 1);
        if (text.equals("true") || text.equals("false")) return Boolean.valueOf(text);
        return text.contains(".") ? (Object) Double.valueOf(text) : (Object) Long.valueOf(text);
    }

    private static String json(Object value) {
        if (value == null) return "null";
        if (value instanceof String s) return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
        if (value instanceof Number || value instanceof Boolean) return value.toString();
        if (value instanceof Map<?, ?> map) {
            StringBuilder out = new StringBuilder("{");
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (out.length() > 1) out.append(',');
                out.append(json(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
            }
            return out.append('}').toString();
        }
        if (value instanceof List<?> list) {
            StringBuilder out = new StringBuilder("[");
            for (Object item : list) {
                if (out.length() > 1) out.append(',');
                out.append(json(item));
            }
            return out.append(']').toString();
        }
        throw new IllegalArgumentException("cannot print a " + value.getClass());
    }
}
