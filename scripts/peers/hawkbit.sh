#!/usr/bin/env bash
# hawkBit for the integration tests, built once into the cache from Maven Central.
# Central has no hawkbit-update-server jar (no version of it, 0.x or 1.x, is published there),
# and 0.3.0M7 is the newest release whose library modules are all there: 0.3.0M9, 0.3.0, 0.4.1
# and 0.5.0 publish only hawkbit-core and hawkbit-parent; 1.x publishes nothing. So this script
# assembles what hawkbit-update-server 0.3.0M7 is, minus the Vaadin UI (its add-ons are not on
# Central) and DMF (RabbitMQ): the DDI and management API starters, the JPA repository with
# Flyway migrations, the PostgreSQL and H2 drivers, and a main class. Spring Boot 2.3.7 and the
# version pins of hawkbit-parent 0.3.0M7 (Hibernate Validator 6.0.20, Flyway 5.2.4) as upstream
# built it. It runs on Java 17, the JDK picked here.
#   scripts/peers/hawkbit.sh install   build if needed; print "<jar path> <java home>"
set -euo pipefail

version="0.3.0M7"
cache="${CDM_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdm-platform}/hawkbit"
jar="$cache/hawkbit-server-$version.jar"

java_home() {
    # Java 17 first (Spring Boot 2.3 predates it but runs on it); else the newest from 11 on.
    local jdk version_line major best=""
    while IFS= read -r jdk; do
        [ -x "$jdk/bin/java" ] || continue
        version_line="$("$jdk/bin/java" -version 2>&1 | head -n 1)"
        major="$(printf '%s' "$version_line" | sed -E 's/.*version "([0-9]+).*/\1/')"
        if [ "$major" = 17 ]; then printf '%s' "${jdk%/}"; return; fi
        if [ -z "$best" ] && [ "$major" -ge 11 ] 2>/dev/null; then best="${jdk%/}"; fi
    done < <(printf '%s\n' /usr/lib/jvm/*/ | sort -rV)
    if [ -n "$best" ]; then printf '%s' "$best"; return; fi
    echo "hawkbit: no JDK 11 or later under /usr/lib/jvm" >&2
    exit 1
}

write_project() {
    local dir="$1"
    mkdir -p "$dir/src/main/java/cdm/hawkbit" "$dir/src/main/resources"
    cat >"$dir/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <parent>
    <groupId>org.springframework.boot</groupId>
    <artifactId>spring-boot-starter-parent</artifactId>
    <version>2.3.7.RELEASE</version>
    <relativePath/>
  </parent>
  <groupId>cdm.peers</groupId>
  <artifactId>hawkbit-server</artifactId>
  <version>$version</version>
  <properties>
    <java.version>11</java.version>
    <hibernate-validator.version>6.0.20.Final</hibernate-validator.version>
    <flyway.version>5.2.4</flyway.version>
  </properties>
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.eclipse.hawkbit</groupId>
        <artifactId>hawkbit-parent</artifactId>
        <version>$version</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>org.eclipse.hawkbit</groupId>
      <artifactId>hawkbit-boot-starter-ddi-api</artifactId>
      <version>$version</version>
    </dependency>
    <dependency>
      <groupId>org.eclipse.hawkbit</groupId>
      <artifactId>hawkbit-boot-starter-mgmt-api</artifactId>
      <version>$version</version>
    </dependency>
    <dependency>
      <groupId>org.postgresql</groupId>
      <artifactId>postgresql</artifactId>
    </dependency>
    <dependency>
      <groupId>com.h2database</groupId>
      <artifactId>h2</artifactId>
    </dependency>
  </dependencies>
  <build>
    <finalName>hawkbit-server</finalName>
    <plugins>
      <plugin>
        <groupId>org.springframework.boot</groupId>
        <artifactId>spring-boot-maven-plugin</artifactId>
        <configuration>
          <mainClass>cdm.hawkbit.Server</mainClass>
        </configuration>
      </plugin>
    </plugins>
  </build>
</project>
POM
    cat >"$dir/src/main/java/cdm/hawkbit/Server.java" <<'JAVA'
package cdm.hawkbit;

import org.eclipse.hawkbit.autoconfigure.security.EnableHawkbitManagedSecurityConfiguration;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.config.annotation.method.configuration.EnableGlobalMethodSecurity;

/** hawkBit's DDI and management APIs in one Spring Boot application. */
@SpringBootApplication
@EnableHawkbitManagedSecurityConfiguration
public class Server {
    public static void main(String[] args) {
        SpringApplication.run(Server.class, args);
    }

    /** hawkBit's services carry @PreAuthorize permission checks. */
    @Configuration
    @EnableGlobalMethodSecurity(prePostEnabled = true, securedEnabled = true, proxyTargetClass = true)
    public static class MethodSecurity {}
}
JAVA
    # hawkBit's JPA configuration redefines a bean of Spring Boot's (hawkbit-jpa-defaults.properties
    # asks for this too, but is read too late for it to count).
    cat >"$dir/src/main/resources/application.properties" <<'PROPERTIES'
spring.main.allow-bean-definition-overriding=true
spring.main.banner-mode=off
PROPERTIES
}

case "${1:-}" in
    install)
        java="$(java_home)"
        if [ ! -f "$jar" ]; then
            echo "hawkbit: building the hawkBit $version server from Maven Central" >&2
            mkdir -p "$cache"
            build="$(mktemp -d --tmpdir="$cache")"
            trap 'rm -rf "$build"' EXIT
            write_project "$build"
            (cd "$build" && JAVA_HOME="$java" mvn -q -B package -Dmaven.test.skip=true >&2)
            mv "$build/target/hawkbit-server.jar" "$jar"
        fi
        echo "$jar $java"
        ;;
    *) echo "usage: $0 install" >&2; exit 2 ;;
esac
