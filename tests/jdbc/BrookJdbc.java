// pgJDBC against a live Brook, doing what DBeaver and Metabase do on connect:
// DatabaseMetaData (tables, columns, primary keys), a prepared statement with
// every column type, a batch insert, typed reads. Run as a single-file program:
//   java -cp /usr/share/java/postgresql.jar tests/jdbc/BrookJdbc.java <jdbc-url>
// Prints `ok <step>` per step; the first mismatch throws with what it saw.

import java.math.BigDecimal;
import java.sql.*;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.*;

public class BrookJdbc {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static void ok(String step) {
        System.out.println("ok " + step);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(args[0])) {
            DatabaseMetaData meta = conn.getMetaData();
            check(meta.getDatabaseProductName().equals("PostgreSQL"), meta.getDatabaseProductName());
            check(meta.getDatabaseMajorVersion() >= 12, "version " + meta.getDatabaseProductVersion());
            ok("connect");

            try (Statement st = conn.createStatement()) {
                st.execute("CREATE TABLE everything ("
                    + "id bigint NOT NULL PRIMARY KEY, small smallint, whole integer, "
                    + "flag boolean, ratio real, score double precision DEFAULT 1.5, "
                    + "price numeric(10,2), name text, code varchar(8), "
                    + "born date, seen timestamp, at timestamptz, blob bytea)");
                st.execute("CREATE VIEW flagged AS SELECT id, name FROM everything WHERE flag");
            }

            List<String> tables = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, "public", "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
            }
            check(tables.equals(List.of("everything")), "tables " + tables);
            List<String> views = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, "public", "%", new String[] {"VIEW"})) {
                while (rs.next()) views.add(rs.getString("TABLE_NAME"));
            }
            check(views.equals(List.of("flagged")), "views " + views);
            List<String> schemas = new ArrayList<>();
            try (ResultSet rs = meta.getSchemas()) {
                while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
            }
            check(schemas.contains("public"), "schemas " + schemas);
            ok("getTables");

            Map<String, String> types = new LinkedHashMap<>();
            Map<String, Integer> nullable = new HashMap<>();
            Map<String, String> defaults = new HashMap<>();
            try (ResultSet rs = meta.getColumns(null, "public", "everything", "%")) {
                while (rs.next()) {
                    String column = rs.getString("COLUMN_NAME");
                    types.put(column, rs.getString("TYPE_NAME"));
                    nullable.put(column, rs.getInt("NULLABLE"));
                    defaults.put(column, rs.getString("COLUMN_DEF"));
                }
            }
            check(new ArrayList<>(types.keySet()).equals(List.of(
                "id", "small", "whole", "flag", "ratio", "score", "price", "name", "code",
                "born", "seen", "at", "blob")), "columns " + types.keySet());
            check(types.get("id").equals("int8") && types.get("name").equals("text")
                && types.get("flag").equals("bool") && types.get("born").equals("date"),
                "types " + types);
            check(nullable.get("id") == DatabaseMetaData.columnNoNulls
                && nullable.get("name") == DatabaseMetaData.columnNullable, "nullable " + nullable);
            check("1.5".equals(defaults.get("score")) && defaults.get("name") == null,
                "defaults " + defaults);
            ok("getColumns");

            List<String> keys = new ArrayList<>();
            try (ResultSet rs = meta.getPrimaryKeys(null, "public", "everything")) {
                while (rs.next()) keys.add(rs.getString("COLUMN_NAME") + "#" + rs.getShort("KEY_SEQ")
                    + "#" + rs.getString("PK_NAME"));
            }
            check(keys.equals(List.of("id#1#everything_pkey")), "primary keys " + keys);
            ok("getPrimaryKeys");

            LocalDateTime seen = LocalDateTime.of(2024, 2, 29, 13, 45, 30, 123456000);
            OffsetDateTime at = OffsetDateTime.of(2024, 3, 1, 8, 0, 0, 0, ZoneOffset.UTC);
            byte[] blob = new byte[] {0, 1, (byte) 0xfe, (byte) 0xff};
            try (PreparedStatement ps = conn.prepareStatement(
                    "INSERT INTO everything VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                ps.setLong(1, 1L);
                ps.setShort(2, (short) -7);
                ps.setInt(3, 2_000_000_000);
                ps.setBoolean(4, true);
                ps.setFloat(5, 0.25f);
                ps.setDouble(6, 2.5);
                ps.setBigDecimal(7, new BigDecimal("1234.56"));
                ps.setString(8, "ada ✓");
                ps.setString(9, "X-1");
                ps.setObject(10, LocalDate.of(1815, 12, 10));
                ps.setObject(11, seen);
                ps.setObject(12, at);
                ps.setBytes(13, blob);
                check(ps.executeUpdate() == 1, "insert count");
                ps.setLong(1, 2L);
                for (int i = 2; i <= 13; i++) ps.setNull(i, Types.NULL);
                check(ps.executeUpdate() == 1, "insert of NULLs");
            }
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT small, whole, flag, ratio, score, price, name, code, born, seen, at, blob "
                    + "FROM everything WHERE id = ?")) {
                ps.setLong(1, 1L);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "row 1 missing");
                    check(rs.getShort(1) == -7, "smallint " + rs.getShort(1));
                    check(rs.getInt(2) == 2_000_000_000, "integer");
                    check(rs.getBoolean(3), "boolean");
                    check(rs.getFloat(4) == 0.25f, "real " + rs.getFloat(4));
                    check(rs.getDouble(5) == 2.5, "double");
                    check(rs.getBigDecimal(6).compareTo(new BigDecimal("1234.56")) == 0,
                        "numeric " + rs.getBigDecimal(6));
                    check(rs.getString(7).equals("ada ✓"), "text " + rs.getString(7));
                    check(rs.getString(8).equals("X-1"), "varchar");
                    check(rs.getObject(9, LocalDate.class).equals(LocalDate.of(1815, 12, 10)),
                        "date " + rs.getString(9));
                    check(rs.getObject(10, LocalDateTime.class).equals(seen),
                        "timestamp " + rs.getString(10));
                    check(rs.getObject(11, OffsetDateTime.class).toInstant().equals(at.toInstant()),
                        "timestamptz " + rs.getString(11));
                    check(Arrays.equals(rs.getBytes(12), blob), "bytea " + rs.getString(12));
                    check(!rs.next(), "one row");
                }
                ps.setLong(1, 2L);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "row 2 missing");
                    for (int i = 1; i <= 12; i++) {
                        rs.getObject(i);
                        check(rs.wasNull(), "column " + i + " of the NULL row");
                    }
                }
            }
            ok("prepared");

            conn.setAutoCommit(false);
            try (PreparedStatement ps = conn.prepareStatement(
                    "INSERT INTO everything (id, name, score) VALUES (?, ?, ?)")) {
                for (int i = 0; i < 1000; i++) {
                    ps.setLong(1, 100 + i);
                    ps.setString(2, "batch " + i);
                    ps.setDouble(3, i / 4.0);
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                check(counts.length == 1000, "batch counts " + counts.length);
            }
            conn.commit();
            conn.setAutoCommit(true);
            try (Statement st = conn.createStatement();
                 ResultSet rs = st.executeQuery(
                     "SELECT count(*), count(DISTINCT id), sum(score) FROM everything WHERE id >= 100")) {
                check(rs.next(), "count row");
                check(rs.getLong(1) == 1000 && rs.getLong(2) == 1000, "batch rows " + rs.getLong(1));
                check(rs.getDouble(3) == 124875.0, "batch sum " + rs.getDouble(3));
            }
            ok("batch");

            try (Statement st = conn.createStatement()) {
                st.executeQuery("SELECT nothing FROM everything");
                check(false, "a bad column must fail");
            } catch (SQLException e) {
                check("42703".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState() + ": " + e.getMessage());
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
                check(rs.next() && rs.getInt(1) == 1, "session usable after an error");
            }
            ok("errors");
        }
    }
}
